"""End to end: backprop_grading inside a real nbgrader autograde run.

A tiny course in tmp_path: a locked setup cell importing the helpers, one answer cell, a test
cell with a Rubric (3 points) and a test cell that calls the student's function directly
(1 point), autograded with the course's steps (the trusted executor). Submissions probe what
the issue "Grading you can trust" is about: warnings must not cost points, patching numpy or
rebinding the helpers must not earn any (the tests run in another process, so such a patch
changes only the student's own).
"""

import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook
from one_notebook_course import COURSE_AUTOGRADE, DOUBLE_SOLUTION, cell, tiny_course

ASSIGNMENT = "ps1"
NOTEBOOK = "doubling"

SETUP = """\
import warnings
import numpy as np
from backprop_grading import check, check_close, check_shape, call, Rubric"""

SOLUTION = DOUBLE_SOLUTION

RUBRIC_TEST = """\
x = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -1.5]])
rubric = Rubric()
with rubric.part(1, "output shape"):
    check_shape(call(double, x), (2, 3), "double(x)")
with rubric.part(2, "values"):
    out = call(double, x)
    check_close(out, np.array([[2.0, -4.0, 6.0], [1.0, 0.5, -3.0]]), "multiply by 2",
                name="double(x)")
### BEGIN HIDDEN TESTS
### END HIDDEN TESTS
rubric.score()"""

DIRECT_TEST = """\
x = np.linspace(-1.0, 1.0, 5)
check_close(double(x), np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), "multiply by 2", name="double(x)")
### BEGIN HIDDEN TESTS
check(bool(np.allclose(double(np.zeros(2)), 0.0)), "double(0) must be 0")
### END HIDDEN TESTS"""

SUBMISSIONS = {
    # correct, and noisy: a UserWarning and a numpy RuntimeWarning on every call
    "warns": '''\
def double(x):
    warnings.warn("just a note from the student")
    np.exp(np.float64(1000.0))
    return x + x''',
    "cheats_with_allclose": '''\
np.allclose = lambda *a, **k: True
def double(x):
    return 3.0 * x''',
    "rebinds_helpers": '''\
class Rubric:
    def part(self, *a):
        import contextlib
        return contextlib.suppress(Exception)
    def score(self):
        return 3
check = check_close = check_shape = lambda *a, **k: None
call = lambda fn, *a, **k: fn(*a)
def double(x):
    return 3.0 * x''',
    "right_shape_wrong_values": '''\
def double(x):
    return x ** 2''',
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    api = tiny_course(root, ASSIGNMENT, NOTEBOOK, [
        cell("setup", SETUP, "setup"), cell("answer", SOLUTION, "double"),
        cell("test", RUBRIC_TEST, "test_double", 3),
        cell("test", DIRECT_TEST, "test_double_direct", 1)],
        autograde_preprocessors=COURSE_AUTOGRADE)
    result = api.generate_assignment(ASSIGNMENT, force=True)
    assert result["success"], result.get("error")
    release = nbformat.read(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                            as_version=4)
    for student, answer in SUBMISSIONS.items():
        submitted = root / "submitted" / student / ASSIGNMENT
        submitted.mkdir(parents=True)
        answer_cell = next(c for c in release.cells
                           if c.metadata["nbgrader"].get("grade_id") == "double")
        answer_cell.source = answer
        nbformat.write(release, submitted / f"{NOTEBOOK}.ipynb")
        result = api.autograde(ASSIGNMENT, student, force=True, create=True)
        assert result["success"], result.get("error")
    with Gradebook(api.coursedir.db_url) as gradebook:
        scores = {student: gradebook.find_submission(ASSIGNMENT, student).score
                  for student in SUBMISSIONS}
    yield root, scores
    shutil.rmtree(root, ignore_errors=True)


def _outputs(root, student, grade_id):
    nb = nbformat.read(root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                       as_version=4)
    cell = next(c for c in nb.cells if c.metadata["nbgrader"].get("grade_id") == grade_id)
    return cell.outputs


def test_correct_answer_that_emits_warnings_gets_full_points(graded):
    root, scores = graded
    assert scores["warns"] == 4
    for grade_id in ("test_double", "test_double_direct"):
        outputs = _outputs(root, "warns", grade_id)
        assert not [o for o in outputs if o.get("name") == "stderr"], outputs
    notes = "".join(o.get("text", "") for o in _outputs(root, "warns", "test_double"))
    assert "note: your code emitted a warning: UserWarning: just a note" in notes


def test_wrong_answer_with_patched_allclose_earns_nothing_from_the_patch(graded):
    root, scores = graded
    # 3x has the right shape (1 point), like any wrong answer of that shape: the patch earns nothing
    assert scores["cheats_with_allclose"] == scores["right_shape_wrong_values"] == 1
    text = "".join(o.get("text", "") for o in _outputs(root, "cheats_with_allclose",
                                                       "test_double"))
    assert "[FAILED] values (2): double(x) is wrong" in text  # judged by the real np.allclose


def test_rebinding_every_helper_changes_nothing_where_the_tests_run(graded):
    root, scores = graded
    assert scores["rebinds_helpers"] == scores["right_shape_wrong_values"] == 1
    text = "".join(o.get("text", "") for o in _outputs(root, "rebinds_helpers", "test_double"))
    assert "1/3 points" in text and "double(x) is wrong" in text


def test_rubric_gives_partial_credit_in_a_real_kernel(graded):
    root, scores = graded
    assert scores["right_shape_wrong_values"] == 1
    text = "".join(o.get("text", "") for o in _outputs(root, "right_shape_wrong_values",
                                                       "test_double"))
    assert "1/3 points: [ok] output shape (1)  [FAILED] values (2): double(x) is wrong" in text
