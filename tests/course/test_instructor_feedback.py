"""Feedback shows the message of a failed hidden check, never the hidden test code."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output
from tiny_assignment import (
    ASSIGNMENT,
    HIDDEN_CODE,
    HIDDEN_MESSAGE,
    released,
    tiny_course,
    with_cells,
)

from backprop_course import Course, submit_notebook
from backprop_course.feedback import HideHiddenTests

TEST_META = {"nbgrader": {"schema_version": 3, "grade": True, "solution": False, "locked": True,
                          "grade_id": "test_f", "points": 1}}
VISIBLE = "check(f(0) == 1, 'f(0) must be 1')"
HIDDEN = "### BEGIN HIDDEN TESTS\ncheck(f(5) == 6, 'f is wrong for positive x')\n" \
         "### END HIDDEN TESTS"


def _failed_test_cell(source: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source, metadata=TEST_META)
    cell.outputs = [new_output("stream", name="stdout", text="1/2 points\n"),
                    new_output("error", ename="GradingFailure", evalue="f is wrong for positive x",
                               traceback=["Cell In[4], line 3", "----> 3 check(f(5) == 6, ...)",
                                          "GradingFailure: f is wrong for positive x"])]
    return cell


def _hide(cell):
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    return nb.cells[0]


def test_hidden_region_and_its_traceback_are_removed_but_message_and_stdout_stay():
    cell = _hide(_failed_test_cell(f"{VISIBLE}\n{HIDDEN}"))
    assert cell.source == VISIBLE
    assert cell.outputs[1].traceback == ["GradingFailure: f is wrong for positive x"]
    assert cell.outputs[0].text == "1/2 points\n"


def test_a_test_cell_without_hidden_tests_keeps_its_full_traceback():
    cell = _hide(_failed_test_cell(VISIBLE))
    assert cell.source == VISIBLE and len(cell.outputs[1].traceback) == 3


def test_answer_cells_are_left_alone_even_with_marker_text():
    answer = new_code_cell("# ### BEGIN HIDDEN TESTS (my notes)\nx = 1", metadata={"nbgrader": {
        "schema_version": 3, "grade": False, "solution": True, "locked": False,
        "grade_id": "a"}})
    assert _hide(answer).source == answer.source


@pytest.fixture(scope="module")
def feedback_html(tmp_path_factory):
    """Feedback of a student whose sigmoid is right at 0 only: the hidden check fails."""
    course = tiny_course(tmp_path_factory.mktemp("feedback"))
    notebook = with_cells(released(course), sigmoid="def sigmoid(x):\n    return 0.5 + 0 * x")
    submit_notebook(course.path("submitted", ASSIGNMENT, "ada"), notebook, ASSIGNMENT)
    assert course.autograde(ASSIGNMENT, "ada")["success"]
    html_path = course.path("feedback", ASSIGNMENT, "ada") / f"{ASSIGNMENT}.html"

    def generate(config_changes) -> str:
        config = copy.deepcopy(course.config)
        config_changes(config)
        Course(course.root, config).feedback(ASSIGNMENT, "ada")
        return html_path.read_text()

    nbgrader_default = generate(lambda config: config.GenerateFeedback.pop("preprocessors"))
    ours = generate(lambda config: None)
    return nbgrader_default, ours


def test_nbgrader_default_feedback_would_show_the_hidden_code(feedback_html):
    nbgrader_default, _ = feedback_html
    assert "x_hidden" in nbgrader_default  # what our preprocessor exists to prevent


def test_feedback_html_has_the_hidden_message_but_not_the_hidden_code(feedback_html):
    _, ours = feedback_html
    assert HIDDEN_MESSAGE in ours
    assert "x_hidden" not in ours and "HIDDEN TESTS" not in ours
    assert "linspace" in HIDDEN_CODE and "linspace" not in ours  # used in hidden tests only
    assert "sigmoid(0) must be 0.5" in ours  # visible test source is still shown


def test_feedback_templates_compile_once_and_render_what_nbconverts_exporter_does(
        tmp_path, monkeypatch):
    """The course's feedback exporter (``c.GenerateFeedback.exporter_class``) makes the HTML
    nbconvert's own ``HTMLExporter`` makes; after the grade command's warm-up
    (``compile_feedback_templates``) it compiles no template, and without it, it does."""
    import jinja2

    from backprop_course import feedback

    course = tiny_course(tmp_path)
    notebook = with_cells(released(course), sigmoid="def sigmoid(x):\n    return 0.5 + 0 * x")
    submit_notebook(course.path("submitted", ASSIGNMENT, "ada"), notebook, ASSIGNMENT)
    assert course.autograde(ASSIGNMENT, "ada")["success"]
    html_path = course.path("feedback", ASSIGNMENT, "ada") / f"{ASSIGNMENT}.html"

    def generate(exporter_class: str | None = None) -> str:
        config = copy.deepcopy(course.config)
        if exporter_class is not None:
            config.GenerateFeedback.exporter_class = exporter_class
        Course(course.root, config).feedback(ASSIGNMENT, "ada")
        return html_path.read_text()

    compiled = []
    compile_template = jinja2.Environment.compile

    def counted(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return compile_template(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    plain = generate("nbconvert.exporters.HTMLExporter")
    assert "index.html.j2" in compiled  # the counter sees nbconvert's compiles
    monkeypatch.setattr(feedback, "COMPILED_TEMPLATES", feedback.CompiledTemplates())
    assert course.config.GenerateFeedback.exporter_class.endswith("FeedbackExporter")
    compiled.clear()
    cold = generate()
    assert "index.html.j2" in compiled and cold == plain
    monkeypatch.setattr(feedback, "COMPILED_TEMPLATES", feedback.CompiledTemplates())
    feedback.compile_feedback_templates(course.config)
    compiled.clear()
    warm = generate()
    assert compiled == [] and warm == plain
    assert HIDDEN_MESSAGE in warm and "x_hidden" not in warm
