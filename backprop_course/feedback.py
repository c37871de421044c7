"""Feedback that tells a student why a hidden test failed without showing the hidden test.

nbgrader's feedback HTML shows every test cell as it ran, hidden tests included (nbgrader issues
#917, #1363); its ``ClearHiddenTests`` preprocessor removes them from the cell's source, but the
traceback of a failed hidden check still prints the failing hidden line. :class:`HideHiddenTests`
does both jobs for ``GenerateFeedback`` (see nbgrader_config.py).

Student content reaches nbconvert's HTML as it is: a ``<script>`` or an ``onerror=`` in a
markdown cell or an HTML output would run in the browser of whoever opens it, the student with
the feedback or the instructor in the formgrader, which renders every submission with an
``HTMLExporter`` made from the course's configuration. :class:`SanitizeFeedback` (nbconvert's
bleach-based ``SanitizeHTML``, switched on, which also cleans each markdown cell after rendering
it, so that a markdown link to ``javascript:`` goes too) is that exporter's preprocessor
(``c.HTMLExporter.preprocessors`` in nbgrader_config.py), so it runs for both. The feedback also
shows each cell's comments as markdown, raw HTML included, and the automatic ones quote what a
student chose (the names of files handed in beside the notebook): :class:`SanitizeComments`
cleans them once nbgrader's ``GetGrades`` has put them on the cells.

:class:`FeedbackExporter` (``c.GenerateFeedback.exporter_class``) is nbconvert's ``HTMLExporter``
whose jinja templates compile once per process: the grade command compiles them before it forks
the students' grading processes (:func:`compile_feedback_templates`), which then only render.
"""

from __future__ import annotations

import nbformat
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool
from traitlets.config import Config

#: Markup that rendered markdown needs besides bleach's default tags (links, emphasis, lists).
MARKDOWN_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "br", "hr", "span", "div",
                 "sub", "sup", "table", "thead", "tbody", "tr", "th", "td", "img", "del")


class HideHiddenTests(ClearHiddenTests):
    """In every test cell that had hidden tests: drop the hidden region from the source and
    shorten each error's traceback to ``ExceptionType: message``.

    The message is what the test author wrote for the student (``check_close(..., "dx is wrong:
    ...")``), so it stays; the code that produced it does not. Output printed to stdout (a
    rubric's summary, warning notes) is kept as it is. Test cells without a hidden region keep
    their full traceback: every line in it is visible to the student anyway.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        is_test = utils.is_grade(cell) and not utils.is_solution(cell)
        if cell.cell_type != "code" or not is_test:
            return cell, resources
        if self._remove_hidden_test_region(cell):
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class SanitizeFeedback(SanitizeHTML):
    """nbconvert's ``SanitizeHTML`` (bleach), enabled, and applied to each markdown cell's
    rendered HTML rather than its source.

    Outputs: ``text/html`` and ``text/markdown`` are cleaned, other types but plain text, LaTeX,
    JSON and PNG/JPEG images are dropped (JavaScript, SVG). Markdown cells are rendered to HTML
    and then cleaned, so that markdown syntax (``[x](javascript:...)``) cannot produce what raw
    HTML may not: only http, https and mailto links, no scripts, no event-handler attributes.
    """

    enabled = Bool(True)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.tags = sorted({*self.tags, *MARKDOWN_TAGS})
        self.attributes = {**self.attributes, "img": ["src", "alt", "title"],
                           "span": ["class"], "div": ["class"], "code": ["class"]}

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type == "markdown":
            html = self.sanitize_html_tags(markdown2html_mistune(cell.source))
            # One line: the exporter renders the cell as markdown again, and a markdown HTML
            # block ends at a blank line. A newline entity is the same whitespace, and the same
            # line break inside <pre>.
            cell.source = "<div>" + html.replace("\n", "&#10;") + "</div>"
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


class SanitizeComments(SanitizeHTML):
    """nbconvert's ``SanitizeHTML``, enabled, applied to the comment ``GetGrades`` puts on each
    graded cell (``cell.metadata.nbgrader.comment``): markup bleach does not allow is escaped and
    shows as text. Must come after ``GetGrades`` in ``GenerateFeedback.preprocessors``."""

    enabled = Bool(True)

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        cell_index: int) -> tuple[NotebookNode, ResourcesDict]:
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if grading.get("comment"):
            grading["comment"] = self.sanitize_html_tags(grading["comment"])
        return cell, resources


class CompiledTemplates(BytecodeCache):
    """jinja's bytecode cache in this process's memory (and, after a fork, in its children's).

    jinja keys each template by its name and file and checks the source's checksum before it
    uses the code: an edited template compiles again."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


#: The compiled templates of every :class:`FeedbackExporter` of this process.
COMPILED_TEMPLATES = CompiledTemplates()


class FeedbackExporter(HTMLExporter):
    """nbconvert's ``HTMLExporter`` (same configuration, same HTML) whose templates compile once
    per process, into :data:`COMPILED_TEMPLATES`: 60-70 ms of each student's feedback here."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = COMPILED_TEMPLATES
        return environment


def compile_feedback_templates(config: Config) -> None:
    """Render a small graded notebook with the exporter ``GenerateFeedback`` makes from
    ``config`` (its class, template and preprocessors, without nbgrader's gradebook steps), so
    that the templates and the libraries they use are ready in this process and in the grading
    processes forked from it. Only the course's configuration and libraries run here."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    exporter = converter.exporter_class(config=converter.config)
    graded = {"grade": True, "solution": False, "locked": True, "grade_id": "warm_up",
              "points": 1, "score": 1, "comment": "*fine*", "schema_version": 3}
    new = nbformat.v4
    sample = new.new_notebook(cells=[
        new.new_markdown_cell("# A *title*\n\nText with `code`, a [link](https://jupyter.org) "
                              "and $x^2$."),
        new.new_code_cell("print(1)\n1", outputs=[
            new.new_output("stream", name="stdout", text="1\n"),
            new.new_output("execute_result", data={"text/plain": "1"}, execution_count=1),
            new.new_output("display_data", data={"text/html": "<b>1</b>", "text/plain": "1"}),
            new.new_output("error", ename="AssertionError", evalue="no",
                           traceback=["AssertionError: no"])],
            metadata={"nbgrader": graded})],
        metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    exporter.from_notebook_node(sample, resources={"nbgrader": {
        "notebook": "warm_up", "score": 1, "max_score": 1, "late_penalty": 0}})
