"""Structural rules for every course notebook (instructor sources and student releases)."""

import ast
import json
import re
import symtable

import nbformat
import pytest
from conftest import ASSIGNMENTS, RELEASE, SOLUTIONS

SOURCES = [SOLUTIONS / a / f"{a}.ipynb" for a in ASSIGNMENTS]
RELEASES = [RELEASE / a / f"{a}.ipynb" for a in ASSIGNMENTS]
ALLOWED_KEYS = {"schema_version", "grade", "solution", "locked", "grade_id", "points", "task",
                "cell_type", "checksum"}


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _read(path):
    return nbformat.read(str(path), as_version=4)


@pytest.mark.parametrize("path", SOURCES + RELEASES,
                         ids=lambda p: f"{p.parents[1].name}/{p.stem}")
def test_notebook_is_valid_and_stored_without_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    with_outputs = [i for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not with_outputs, f"{path.name}: cells {with_outputs} have stored outputs; clear them"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_metadata_is_schema_3_with_unique_grade_ids(path):
    nb = _read(path)
    seen = set()
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if not meta:
            continue
        assert meta.get("schema_version") == 3, f"cell {i}: schema_version must be 3"
        unknown = set(meta) - ALLOWED_KEYS
        assert not unknown, f"cell {i}: unknown nbgrader keys {unknown}"
        gid = meta.get("grade_id")
        assert gid and re.fullmatch(r"[A-Za-z0-9_\-]+", gid), f"cell {i}: bad grade_id {gid!r}"
        assert gid not in seen, f"cell {i}: duplicate grade_id {gid!r}"
        seen.add(gid)
        if meta.get("grade"):
            assert meta.get("points", 0) > 0, f"cell {i} ({gid}): a graded cell needs points > 0"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_every_answer_cell_is_followed_by_a_test_cell(path):
    cells = [(c, _nbgrader(c)) for c in _read(path).cells]
    answers = [i for i, (_, m) in enumerate(cells) if m.get("solution") and not m.get("grade")]
    assert answers, f"{path.name} has no autograded answer cell"
    for i in answers:
        following = []
        for _, meta in cells[i + 1:]:
            if meta.get("solution"):
                break
            following.append(meta)
        tests = [m for m in following if m.get("grade") and not m.get("solution")]
        assert tests, f"answer cell {cells[i][1]['grade_id']!r} has no test cell after it"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_test_cells_have_hidden_tests_and_no_bare_asserts(path):
    for cell in _read(path).cells:
        meta = _nbgrader(cell)
        if not (meta.get("grade") and not meta.get("solution")):
            continue
        assert "### BEGIN HIDDEN TESTS" in cell.source, f"{meta['grade_id']}: no hidden tests"
        bare = [ln for ln in cell.source.splitlines() if ln.lstrip().startswith("assert ")]
        assert not bare, (f"{meta['grade_id']}: use backprop_grading.check/check_close "
                          f"instead of bare assert: {bare[0].strip()}")


def _reads_and_assigns(source: str) -> tuple[set[str], set[str]]:
    """Global names a cell reads without assigning them itself, and the names it assigns."""
    top = symtable.symtable(source, "<cell>", "exec")
    assigned = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    read, scopes = set(), [top]
    while scopes:
        scope = scopes.pop()
        scopes += scope.get_children()
        read |= {s.get_name() for s in scope.get_symbols()
                 if s.is_referenced() and (scope is top or s.is_global())}
    return read - assigned, assigned


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_locked_cells_read_nothing_that_only_an_editable_cell_defines(path):
    """While grading, test cells and the other locked cells also run where the student's code
    cannot reach; a helper they read from an editable cell (not an answer) would be the
    student's own (forward functions, reference gradients) and could be rewritten to agree with
    a wrong answer. Such cells must be locked (grade_id ``given_*``)."""
    locked, answers, editable = set(), set(), {}
    for index, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        meta = _nbgrader(cell)
        reads, assigns = _reads_and_assigns(cell.source)
        if meta.get("locked"):
            exposed = sorted(n for n in reads if n in editable and n not in locked)
            assert not exposed, (f"{meta['grade_id']} reads {exposed}, defined only in the "
                                 f"editable cell {editable[exposed[0]]}: lock that cell")
        if meta.get("locked"):
            locked |= assigns
        elif meta.get("solution"):
            answers |= assigns
        else:
            editable.update({name: index for name in assigns - answers})


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_test_cells_zip_strictly(path):
    """``for name, got, want in zip(NAMES, result, expected)`` over a tuple the student returned
    short would check nothing and pass: every zip in a test cell says ``strict=True``."""
    for cell in _read(path).cells:
        meta = _nbgrader(cell)
        if not (meta.get("grade") and not meta.get("solution")):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "zip":
                assert any(k.arg == "strict" for k in node.keywords), (
                    f"{meta['grade_id']}: zip(..., strict=True) at line {node.lineno}")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_solution_markers_only_in_answer_cells(path):
    for i, cell in enumerate(_read(path).cells):
        meta = _nbgrader(cell)
        if "### BEGIN SOLUTION" in cell.source:
            assert meta.get("solution"), f"cell {i}: solution region in a non-solution cell"
        if "### BEGIN HIDDEN TESTS" in cell.source:
            assert meta.get("grade"), f"cell {i}: hidden tests in a non-grade cell"


def test_notebooks_are_plain_json_with_one_space_indent():
    for path in SOURCES + RELEASES:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
        assert text.startswith("{\n \""), f"{path}: write notebooks with nbformat (indent 1)"
