"""A tiny two-exercise assignment in the course's style, for the grading and instructor tests.

The grading tests import :func:`tiny_course` and the submission builders from here;
``course/test_instructor_tiny_course.py`` checks the assignment itself through the ``check``
command: its reference solution earns every point and its blank release none.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
from conftest import REPO
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from backprop_course import Course, course_config, reference_submission

ASSIGNMENT = "tiny"
MAX_POINTS = {"test_sigmoid": 2.0, "test_sigmoid_grad": 3.0}
#: Text of the hidden checks' code and of their messages, to look for in feedback.
HIDDEN_CODE = "x_hidden = np.linspace(-3.0, 3.0, 7)"
HIDDEN_MESSAGE = "sigmoid is wrong away from 0: check the sign inside exp"

SETUP = """\
import numpy as np
from backprop_grading import check, check_close, check_shape, call, Rubric
from backprop_kit.layers import Sigmoid"""
SIGMOID = '''\
def sigmoid(x):
    """Logistic function, elementwise: x (any shape) -> same shape."""
    ### BEGIN SOLUTION
    return 1.0 / (1.0 + np.exp(-x))
    ### END SOLUTION'''
TEST_SIGMOID = f'''\
check_close(call(sigmoid, np.array([0.0]), forbid=(Sigmoid.forward,)), np.array([0.5]),
            "sigmoid(0) must be 0.5")
### BEGIN HIDDEN TESTS
{HIDDEN_CODE}
check_close(call(sigmoid, x_hidden, forbid=(Sigmoid.forward,)),
            1.0 / (1.0 + np.exp(-x_hidden)), "{HIDDEN_MESSAGE}")
### END HIDDEN TESTS'''
SIGMOID_GRAD = '''\
def sigmoid_grad(x):
    """Derivative of the logistic function: x (any shape) -> same shape."""
    ### BEGIN SOLUTION
    s = sigmoid(x)
    return s * (1.0 - s)
    ### END SOLUTION'''
TEST_SIGMOID_GRAD = '''\
rubric = Rubric()
x_visible = np.array([[-1.0, 0.0, 2.0]])
with rubric.part(1, "shape"):
    check_shape(call(sigmoid_grad, x_visible), (1, 3), "sigmoid_grad(x)")
### BEGIN HIDDEN TESTS
with rubric.part(2, "values"):
    s_hidden = 1.0 / (1.0 + np.exp(-x_visible))
    check_close(call(sigmoid_grad, x_visible), s_hidden * (1.0 - s_hidden),
                "sigmoid_grad is wrong: use s * (1 - s) with s = sigmoid(x)")
### END HIDDEN TESTS
rubric.score()'''


def _meta(grade_id: str, *, answer: bool = False, points: int | None = None) -> dict:
    if answer:
        flags = {"grade": False, "solution": True, "locked": False}
    elif points is not None:
        flags = {"grade": True, "solution": False, "locked": True, "points": points}
    else:
        flags = {"grade": False, "solution": False, "locked": True}
    return {"nbgrader": {"schema_version": 3, "grade_id": grade_id, **flags}}


def source_notebook() -> NotebookNode:
    """The instructor notebook: setup, two answers, two test cells (visible + hidden)."""
    nb = new_notebook(cells=[
        new_markdown_cell("# Tiny\nWrite the logistic function and its derivative."),
        new_code_cell(SETUP, metadata=_meta("setup")),
        new_code_cell(SIGMOID, metadata=_meta("sigmoid", answer=True)),
        new_code_cell(TEST_SIGMOID, metadata=_meta("test_sigmoid", points=2)),
        new_code_cell(SIGMOID_GRAD, metadata=_meta("sigmoid_grad", answer=True)),
        new_code_cell(TEST_SIGMOID_GRAD, metadata=_meta("test_sigmoid_grad", points=3)),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def write_course_source(root: Path) -> None:
    """``root/solutions/tiny/tiny.ipynb`` plus the repository's nbgrader_config.py."""
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(), str(root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
    shutil.copy(REPO / "nbgrader_config.py", root)


def tiny_course(root: Path, *, cell_timeout: int = 5, db_url: str | None = None) -> Course:
    """A generated course in ``root`` with a short per-cell time limit."""
    write_course_source(root)
    config = course_config(root, db_url=db_url)
    config.Execute.timeout = cell_timeout
    course = Course(root, config)
    course.generate(ASSIGNMENT)
    return course


def released(course: Course) -> NotebookNode:
    return nbformat.read(course.path("release", ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)


def reference(course: Course) -> NotebookNode:
    """The release with the instructor's answers filled in."""
    source = nbformat.read(course.path("source", ASSIGNMENT) / f"{ASSIGNMENT}.ipynb",
                           as_version=4)
    return reference_submission(source, released(course))


def with_cells(notebook: NotebookNode, **sources: str) -> NotebookNode:
    """A copy of ``notebook`` whose cells named by grade_id get new sources."""
    nb = copy.deepcopy(notebook)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell.source = sources.pop(grade_id)
    assert not sources, f"no cells {list(sources)} in the notebook"
    return nb
