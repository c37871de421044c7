"""The static scan: what it flags in student code and notebooks, and what it leaves alone."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from tiny_assignment import source_notebook

from backprop_course.static_scan import ReleaseLayout, read_submission, scan_notebook

LAYOUT = ReleaseLayout.of(source_notebook())


def _answer(code: str, grade_id: str = "sigmoid"):
    nb = source_notebook()
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
         ).source = code
    return nb


def _kinds(nb) -> set[str]:
    return {flag.kind for flag in scan_notebook(nb, LAYOUT)}


@pytest.mark.parametrize(("code", "kinds"), [
    ("np.allclose = lambda *a, **k: True", {"numpy-patched"}),
    ("import numpy\nnumpy.testing.assert_allclose = print", {"numpy-patched"}),
    ("t = np.testing\nt.assert_allclose = print", {"numpy-patched"}),
    ("setattr(np, 'allclose', max)", {"numpy-patched"}),
    ("np.__dict__['tanh'] = abs", {"numpy-patched"}),
    ("vars(np)['tanh'] = abs", {"numpy-patched"}),
    ("import builtins\nbuiltins.len = lambda x: 3", {"builtins-patched", "introspection"}),
    ("__builtins__.abs = None", {"builtins-patched"}),
    ("import sys\nsys.modules['numpy'] = None", {"sys-modules"}),
    ("check_close = lambda *a, **k: None", {"helper-rebound"}),
    ("def check(condition, message):\n    pass", {"helper-rebound"}),
    ("from backprop_grading import check_close as check", {"helper-rebound"}),
    ("import math as np", {"helper-rebound"}),
    ("def f():\n    global call\n    call = print", {"helper-rebound"}),
    ("import backprop_kit.layers as L\nL.Sigmoid.forward = print", {"kit-patched"}),
    ("from backprop_kit.layers import Sigmoid\nSigmoid.backward = print", {"kit-patched"}),
    ("from backprop_grading import check_close\ncheck_close.__defaults__ = (1,)",
     {"grading-patched"}),
    ("text = open('../../../solutions/tiny/tiny.ipynb').read()", {"course-files"}),
    ("!cat ../gradebook.db", {"course-files"}),
    ("import os\nos._exit(1)", {"process-control"}),
    ("eval('1 + 1')", {"dynamic-code"}),
    ("import gc\ngc.get_objects()", {"introspection"}),
    ("def sigmoid(x:\n    return x", {"syntax-error"}),
])
def test_suspicious_answer_code_is_flagged(code, kinds):
    assert _kinds(_answer(code)) == kinds


@pytest.mark.parametrize("code", [
    "def sigmoid(x):\n    check = x > 0\n    return 1.0 / (1.0 + np.exp(-x))",
    "import numpy as np\nfrom backprop_grading import check",
    "%timeit np.exp(3.0)",
    "import matplotlib.pyplot as plt\nplt.rcParams['figure.dpi'] = 100",
    "x = np.zeros(3)\nx[0] = 1.0\nstate = {'source': 'data'}",
    "from backprop_kit.layers import Sigmoid\nlayer = Sigmoid()\nlayer.cache = None",
])
def test_honest_answer_code_is_not_flagged(code):
    assert _kinds(_answer(code)) == set()


def test_locked_cells_are_compared_with_the_release_not_scanned_as_student_code():
    nb = source_notebook()
    nb.cells[1].source += "\nnp.allclose = print"  # the setup cell: nbgrader restores it
    assert _kinds(nb) == {"locked-cell-edited"}


def test_missing_foreign_and_reordered_cells_are_flagged():
    nb = source_notebook()
    del nb.cells[5]  # test_sigmoid_grad
    nb.cells[2], nb.cells[4] = nb.cells[4], nb.cells[2]
    nb.cells.append(new_code_cell("x = 1", metadata={"nbgrader": {
        "schema_version": 3, "grade": False, "solution": True, "locked": False,
        "grade_id": "chain_rule"}}))
    assert _kinds(nb) == {"cells-missing", "cells-reordered", "foreign-cells"}


def test_stripped_metadata_and_foreign_notebooks_are_told_apart():
    stripped = source_notebook()
    for cell in stripped.cells:
        cell.metadata.clear()
    foreign = copy.deepcopy(source_notebook())
    for cell in foreign.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader.grade_id = "other_" + cell.metadata.nbgrader.grade_id
    assert _kinds(stripped) == {"metadata-stripped"}
    assert _kinds(foreign) == {"foreign-notebook"}


def test_code_written_in_a_new_markdown_cell_is_flagged_but_prose_is_not():
    nb = source_notebook()
    nb.cells.insert(3, new_markdown_cell("```python\ndef sigmoid(x):\n    return x\n```"))
    nb.cells.insert(3, new_markdown_cell("I used the identity s' = s (1 - s)."))
    assert [f.where for f in scan_notebook(nb, LAYOUT)] == ["cell 4"]


def test_without_a_layout_only_code_is_scanned():
    nb = _answer("np.allclose = print")
    del nb.cells[5]
    assert {f.kind for f in scan_notebook(nb)} == {"numpy-patched"}


@pytest.mark.parametrize(("content", "reason"), [
    (b"\xff\xfe not text", "not UTF-8"),
    (b'{"cells": [', "not valid JSON"),
    (b"[1, 2]", "JSON but not a notebook"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code"}]}',
     "JSON but not a notebook"),
])
def test_unreadable_files_become_a_flag_not_an_exception(tmp_path, content, reason):
    path = tmp_path / "tiny.ipynb"
    path.write_bytes(content)
    nb, flag = read_submission(path)
    assert nb is None and flag.kind == "unreadable" and reason in flag.message


def test_a_readable_notebook_is_returned(tmp_path):
    path = tmp_path / "tiny.ipynb"
    nbformat.write(source_notebook(), str(path))
    nb, flag = read_submission(path)
    assert flag is None and len(nb.cells) == len(source_notebook().cells)
