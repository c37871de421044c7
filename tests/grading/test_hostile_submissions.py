"""Hostile and broken submissions: each gets the right score or a flag, and nothing hangs.

All students are graded in ONE run of the class grader (2 workers) on the tiny assignment of
test_instructor_tiny_course.py (max 2 + 3 points). Before it, one student is graded with a
correct notebook; the run then grades that student's crashing resubmission, which must replace
the old grades with 0 instead of leaving them stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat
import psutil
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook
from tiny_assignment import (
    ASSIGNMENT,
    MAX_POINTS,
    released,
    tiny_course,
    with_cells,
)

from backprop_course import grade_class, submit_notebook

CELL_SECONDS = 5
NOTEBOOK_SECONDS = 15.0
#: Address-space cap of a worker: room for the kernel (about 1 GiB mapped) and some arrays,
#: never below what this test process (which the worker is forked from) already maps.
MEMORY_BYTES = max(2 * 2**30, psutil.Process().memory_info().vms + 2**30)

RIGHT_S = "def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(-x))"
RIGHT_G = "def sigmoid_grad(x):\n    s = sigmoid(x)\n    return s * (1.0 - s)"
WRONG_S = "def sigmoid(x):\n    return x"
WRONG_G = "def sigmoid_grad(x):\n    return 0.0"
FULL = {"test_sigmoid": 2.0, "test_sigmoid_grad": 3.0}
NONE = {"test_sigmoid": 0.0, "test_sigmoid_grad": 0.0}
ONLY_SIGMOID = {"test_sigmoid": 2.0, "test_sigmoid_grad": 0.0}


def answers(s: str = RIGHT_S, g: str = RIGHT_G) -> Callable[[NotebookNode], NotebookNode]:
    return lambda release: with_cells(release, sigmoid=s, sigmoid_grad=g)


def _cell_index(nb: NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells)
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def grad_test_cell_deleted(release):
    nb = answers(g=WRONG_G)(release)
    del nb.cells[_cell_index(nb, "test_sigmoid_grad")]
    return nb


def all_metadata_stripped(release):
    nb = answers()(release)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


def answer_metadata_stripped(release):
    nb = answers()(release)
    nb.cells[_cell_index(nb, "sigmoid")].metadata.pop("nbgrader")
    return nb


def answers_reordered(release):
    nb = answers()(release)
    nb.cells.insert(_cell_index(nb, "sigmoid"), nb.cells.pop(_cell_index(nb, "sigmoid_grad")))
    return nb


def extra_cells(release):
    nb = answers(s="def sigmoid(x):\n    return _logistic(x)")(release)
    at = _cell_index(nb, "sigmoid")
    nb.cells.insert(at, new_code_cell("def _logistic(z):\n    return 1.0 / (1.0 + np.exp(-z))"))
    nb.cells.insert(at, new_markdown_cell("My helper comes first."))
    return nb


def solution_in_markdown(release):
    nb = answers(s=release.cells[_cell_index(release, "sigmoid")].source)(release)
    nb.cells.insert(_cell_index(nb, "sigmoid"), new_markdown_cell(f"```python\n{RIGHT_S}\n```"))
    return nb


def other_assignments_notebook(release):
    cell = new_code_cell("def chain(f, g):\n    return lambda x: f(g(x))", metadata={
        "nbgrader": {"schema_version": 3, "grade": False, "solution": True, "locked": False,
                     "grade_id": "chain_rule"}})
    return new_notebook(cells=[cell], metadata=release.metadata)


def not_utf8(release):
    return nbformat.writes(answers()(release)).encode().replace(b"Write the", b"\xe9crire the")


@dataclass(frozen=True)
class Kind:
    """One hostile submission and what the grader must make of it."""

    student: str
    build: Callable[[NotebookNode], NotebookNode | bytes]
    status: str
    scores: dict[str, float]
    flags: set[str] = field(default_factory=set)
    file_name: str = ASSIGNMENT


KINDS = [
    Kind("blank", lambda release: release, "graded", NONE),
    Kind("wrong", answers(WRONG_S, WRONG_G), "graded", NONE),
    Kind("partly_right", answers(g="def sigmoid_grad(x):\n    return sigmoid(x)"), "graded",
         {"test_sigmoid": 2.0, "test_sigmoid_grad": 1.0}),
    Kind("right_with_warnings", answers(
        s="import warnings\ndef sigmoid(x):\n    warnings.warn('think about overflow')\n"
          "    np.exp(np.array([1000.0]))\n    return 1.0 / (1.0 + np.exp(-x))"),
         "graded", FULL),
    Kind("infinite_loop", answers(g="def sigmoid_grad(x):\n    while True:\n        pass"),
         "graded", ONLY_SIGMOID),
    # The test cell runs in the trusted kernel, which stops waiting at the cell's time limit and
    # ends the student's process: the cell before keeps its points.
    Kind("uninterruptible_loop", answers(
        g="import time\ndef sigmoid_grad(x):\n    while True:\n        try:\n"
          "            time.sleep(0.05)\n        except KeyboardInterrupt:\n            pass"),
         "graded", ONLY_SIGMOID),
    Kind("memory_bomb", answers(
        g="def sigmoid_grad(x):\n    hog = []\n    while True:\n"
          "        hog.append(np.ones(10**7))"), "graded", ONLY_SIGMOID),
    Kind("os_exit", answers(g="import os\ndef sigmoid_grad(x):\n    os._exit(1)"), "graded",
         ONLY_SIGMOID, {"process-control"}),
    Kind("huge_output", answers(
        s=RIGHT_S + "\nprint('spam ' * 400_000)\nfor i in range(5000):\n    print(i)"),
         "graded", FULL),
    Kind("test_cell_edited", lambda release: with_cells(
        release, sigmoid=WRONG_S, sigmoid_grad=RIGHT_G, test_sigmoid="pass"),
         "graded", {"test_sigmoid": 0.0, "test_sigmoid_grad": 1.0}, {"locked-cell-edited"}),
    Kind("test_cell_deleted", grad_test_cell_deleted, "graded", ONLY_SIGMOID, {"cells-missing"}),
    Kind("all_metadata_stripped", all_metadata_stripped, "failed", NONE, {"metadata-stripped"}),
    Kind("answer_metadata_stripped", answer_metadata_stripped, "graded", FULL,
         {"cells-missing"}),
    Kind("np_allclose_patched", answers(
        s="np.allclose = lambda *a, **k: True\n" + WRONG_S, g=WRONG_G), "graded", NONE,
         {"numpy-patched"}),
    Kind("np_testing_patched", answers(
        s="np.testing.assert_allclose = lambda *a, **k: None\n" + WRONG_S, g=WRONG_G),
         "graded", NONE, {"numpy-patched"}),
    Kind("builtins_patched", answers(
        s="import builtins\nbuiltins.abs = lambda value: 0.0\n" + WRONG_S, g=WRONG_G),
         "graded", NONE, {"builtins-patched", "introspection"}),
    Kind("helper_rebound", answers(
        s="check_close = lambda *a, **k: None\ncheck_shape = lambda *a, **k: None\n" + WRONG_S,
        g=WRONG_G), "graded", NONE, {"helper-rebound"}),
    Kind("grading_patched", answers(
        s="import backprop_grading as grading\ngrading.check_close = lambda *a, **k: None\n"
          + WRONG_S, g=WRONG_G), "graded", NONE, {"grading-patched"}),
    Kind("delegation_to_kit", answers(s="def sigmoid(x):\n    return Sigmoid().forward(x)"),
         "graded", {"test_sigmoid": 0.0, "test_sigmoid_grad": 3.0}),
    Kind("cells_reordered", answers_reordered, "graded", FULL, {"cells-reordered"}),
    Kind("invalid_json", lambda release: b'{"cells": [', "failed", NONE, {"unreadable"}),
    Kind("not_utf8", not_utf8, "failed", NONE, {"unreadable"}),
    Kind("extra_cells", extra_cells, "graded", FULL),
    Kind("solution_in_markdown", solution_in_markdown, "graded", NONE, {"code-in-markdown"}),
    Kind("other_assignments_notebook", other_assignments_notebook, "failed", NONE,
         {"foreign-notebook"}),
    Kind("wrong_file_name", answers(), "failed", NONE,
         {"unknown-notebook", "missing-notebook"}, file_name="01_chain_rule"),
    Kind("syntax_error", answers(g="def sigmoid_grad(x):\n    return s * (1 - s"), "graded",
         ONLY_SIGMOID, {"syntax-error"}),
    Kind("reads_course_files", answers(
        s=RIGHT_S + "\ntry:\n    leaked = open('../../../solutions/tiny/tiny.ipynb').read()\n"
          "except OSError:\n    pass"), "graded", FULL, {"course-files"}),
    Kind("stale_after_crash", answers(s="import os\nos._exit(0)"), "graded", NONE,
         {"process-control"}),
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tiny_course(tmp_path_factory.mktemp("hostile"), cell_timeout=CELL_SECONDS)
    release = released(course)
    limits = {"timeout_per_notebook": NOTEBOOK_SECONDS, "memory_bytes": MEMORY_BYTES}
    submit_notebook(course.path("submitted", ASSIGNMENT, "stale_after_crash"),
                    answers()(release), ASSIGNMENT)
    before = grade_class(course, ASSIGNMENT, students=["stale_after_crash"], **limits)
    for kind in KINDS:
        folder = course.path("submitted", ASSIGNMENT, kind.student)
        if kind.file_name != ASSIGNMENT:
            (folder / f"{ASSIGNMENT}.ipynb").unlink(missing_ok=True)
        submit_notebook(folder, kind.build(release), kind.file_name)
    start = time.monotonic()
    report = grade_class(course, ASSIGNMENT, workers=2, **limits)
    return course, before, report, time.monotonic() - start


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.student)
def test_hostile_submission_gets_expected_score_status_and_flags(graded, kind):
    course, _, report, _ = graded
    row = report.row(kind.student)
    assert (row.status, row.scores) == (kind.status, kind.scores), row.detail
    assert {flag.kind for flag in row.flags} == kind.flags, [str(f) for f in row.flags]
    assert course.scores(ASSIGNMENT, kind.student) == kind.scores, "gradebook disagrees"


def test_crashing_resubmission_replaces_the_previous_grades_with_zero(graded):
    course, before, report, _ = graded
    assert before.row("stale_after_crash").scores == FULL
    assert report.row("stale_after_crash").total == 0
    assert course.total_score(ASSIGNMENT, "stale_after_crash") == (0.0, sum(FULL.values()))


def test_a_process_that_ends_itself_or_never_returns_fails_only_the_cells_that_need_it(graded):
    """The student's process is not the one that runs the tests: when it exits (os._exit) or
    ignores the interrupt, the test cell that was waiting says so and scores 0, and the cells
    before it keep their points (the old one-kernel design scored the whole notebook 0)."""
    _, _, report, _ = graded
    for student, why in (("os_exit", "stopped answering"),
                         ("uninterruptible_loop", "stopped answering")):
        failures = " ".join(report.row(student).failures.get("test_sigmoid_grad", ()))
        assert why in failures, (student, failures)
        assert report.row(student).scores["test_sigmoid"] == 2.0


def test_every_student_has_every_grade_in_the_gradebook(graded):
    course, _, report, _ = graded
    table = course.score_table(ASSIGNMENT)
    assert sorted(table) == sorted(kind.student for kind in KINDS)
    assert all(set(grades) == set(MAX_POINTS) for grades in table.values())
    assert [row.student for row in report.rows] == sorted(table)


def test_no_submission_runs_past_its_budget(graded):
    _, _, report, elapsed = graded
    slowest = max(report.rows, key=lambda row: row.seconds)
    assert slowest.seconds < NOTEBOOK_SECONDS + 5, (slowest.student, slowest.seconds)
    # 2 workers: the whole class takes about half the summed time, never the sum of budgets.
    assert elapsed < sum(row.seconds for row in report.rows)


def test_flags_and_failures_are_written_as_gradebook_comments(graded):
    course, _, _, _ = graded
    with Gradebook(course.db_url) as gb:
        def comment(student, cell):
            return gb.find_comment(cell, ASSIGNMENT, ASSIGNMENT, student).auto_comment or ""

        assert "numpy-patched" in comment("np_allclose_patched", "sigmoid")
        assert "helper-rebound" in comment("helper_rebound", "sigmoid")
        assert "process-control" in comment("os_exit", "sigmoid_grad")
        assert comment("blank", "sigmoid") == "No response."
        assert comment("extra_cells", "sigmoid") == ""


def test_report_csv_has_one_row_per_student_with_flags(graded, tmp_path):
    _, _, report, _ = graded
    path = tmp_path / "report.csv"
    report.write_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["student", "status", *MAX_POINTS]
    rows = {line.split(",")[0]: line for line in lines[1:]}
    assert set(rows) == {kind.student for kind in KINDS}
    assert rows["os_exit"].startswith("os_exit,graded,2,0,2,5,process-control(sigmoid_grad)")
