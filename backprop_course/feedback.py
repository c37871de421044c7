"""Feedback that tells a student why a hidden test failed without showing the hidden test.

nbgrader's feedback HTML shows every test cell as it ran, hidden tests included (nbgrader issues
#917, #1363); its ``ClearHiddenTests`` preprocessor removes them from the cell's source, but the
traceback of a failed hidden check still prints the failing hidden line. :class:`HideHiddenTests`
does both jobs for ``GenerateFeedback`` (see nbgrader_config.py).
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests


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
