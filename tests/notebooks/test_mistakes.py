"""The mistakes corpus: realistic wrong answers get visible, pointed, proportionate feedback.

For every assignment with a data module in tests/notebooks/mistakes/ (see its ``__init__``),
one kernel runs the source notebook's nbgrader cells (setup, locked, answer and test cells; the
free demonstration cells are skipped) once. Then, for each mistake, the mistaken answer cell
runs, followed by the exercise's test cell twice: as in solutions/ (hidden tests included: what
autograde runs and scores) and as in a release generated from it in a temporary course (the
visible tests a student sees). The reference answer cell runs again afterwards, so that every
mistake meets a kernel holding correct code. A test cell's score is nbgrader's own
``determine_grade`` of its outputs: an error or stderr scores 0, a number partial credit.

- a mistake: the visible test fails and its output contains the mistake's phrase (hidden-only
  mistakes: the visible test passes, the hidden test's output names it); the graded cell
  awards exactly the corpus's score, below full;
- a valid alternative: full marks and a passing visible test;
- end to end: per assignment, one submission made of the reference with the corpus's
  ``END_TO_END`` mistakes swapped in is autograded by nbgrader and loses exactly their points.
"""

from __future__ import annotations

import ast
import importlib
import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from mistakes import Alternative, Mistake
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.utils import determine_grade

from backprop_course import reference_submission, submit_notebook

CORPUS = [importlib.import_module(f"mistakes.{path.stem}")
          for path in sorted((Path(__file__).parent / "mistakes").glob("mistakes_*.py"))]
BY_ASSIGNMENT = {module.ASSIGNMENT: module for module in CORPUS}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _by_grade_id(nb) -> dict[str, nbformat.NotebookNode]:
    return {_nbgrader(c)["grade_id"]: c for c in nb.cells if _nbgrader(c).get("grade_id")}


def _output_text(cell) -> str:
    """Everything a student reads below a cell: streams, results and errors, without colours."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts += [f"{output.ename}: {output.evalue}", *output.traceback]
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return ANSI.sub("", "\n".join(parts))


def _visible_failed(cell) -> bool:
    """True when a release test cell reports a failed rubric part or ends in an error."""
    return any(o.output_type == "error" for o in cell.outputs) or "[FAILED]" in _output_text(cell)


@dataclass
class NotebookSession:
    """One kernel holding an assignment's source notebook, and the cells to test it with."""

    source: nbformat.NotebookNode
    release: nbformat.NotebookNode
    client: NotebookClient
    reference_scores: dict[str, float] = field(default_factory=dict)

    def run(self, source: str) -> nbformat.NotebookNode:
        """Run ``source`` in the kernel; the executed cell, outputs included."""
        cell = new_code_cell(source)
        self.client.nb.cells.append(cell)
        return self.client.execute_cell(cell, len(self.client.nb.cells) - 1)

    def grade(self, grade_id: str) -> tuple[float, nbformat.NotebookNode]:
        """Run the source test cell ``grade_id``; nbgrader's score and the executed cell."""
        cell = _by_grade_id(self.source)[grade_id]
        executed = self.run(cell.source)
        executed.metadata["nbgrader"] = {**_nbgrader(cell), "solution": False}
        score, _ = determine_grade(executed)
        return score, executed

    def visible(self, grade_id: str) -> nbformat.NotebookNode:
        """Run the release's test cell ``grade_id`` (visible tests only); the executed cell."""
        return self.run(_by_grade_id(self.release)[grade_id].source)

    def try_answer(self, answer_id: str, answer: str) -> tuple[float, nbformat.NotebookNode,
                                                                 nbformat.NotebookNode]:
        """Run ``answer`` in place of answer cell ``answer_id``, then its test cell as graded
        and as released; the reference answer runs again afterwards, so that later exercises
        see correct code.

        Returns
        -------
        score : float
            nbgrader's score of the graded test cell.
        graded, visible : NotebookNode
            The executed source and release test cells.
        """
        test_id = f"test_{answer_id}"
        try:
            self.run(answer)
            score, graded = self.grade(test_id)
            return score, graded, self.visible(test_id)
        finally:
            self.run(_by_grade_id(self.source)[answer_id].source)

    def points(self, grade_id: str) -> float:
        return float(_nbgrader(_by_grade_id(self.source)[grade_id])["points"])


@pytest.fixture(scope="module")
def sessions(make_course):
    """Lazily started sessions keyed by assignment, one kernel each, kept until the end."""
    stack, opened = ExitStack(), {}

    def session(assignment: str) -> NotebookSession:
        if assignment not in opened:
            course = make_course(assignment)
            course.generate(assignment)
            folder = course.path("source", assignment)
            source = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
            release = nbformat.read(course.path("release", assignment) / f"{assignment}.ipynb",
                                    as_version=4)
            client = NotebookClient(new_notebook(), timeout=120, allow_errors=True,
                                    kernel_name="python3",
                                    resources={"metadata": {"path": str(folder)}})
            stack.enter_context(client.setup_kernel())
            opened[assignment] = NotebookSession(source, release, client)
            _run_reference(opened[assignment])
        return opened[assignment]

    yield session
    stack.close()


def _defines_names(source: str) -> bool:
    """Whether a cell defines functions or classes at top level, which the exercises may build
    on (a demo cell without them is skipped)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: a demo cell
        return False
    return any(isinstance(node, ast.FunctionDef | ast.ClassDef) for node in tree.body)


def _run_reference(session: NotebookSession) -> None:
    """Run the source's nbgrader cells in order, and the plain cells that define what the
    exercises build on; every test cell must give full marks."""
    for cell in session.source.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code" or not (meta or _defines_names(cell.source)):
            continue
        if not meta:
            # Its demo lines may need skipped demo cells and fail; its definitions come first,
            # and a definition still missing shows below as a reference below full marks.
            session.run(cell.source)
            continue
        if meta.get("grade"):
            score, executed = session.grade(meta["grade_id"])
            assert score == meta["points"], (
                f"the reference scores {score}/{meta['points']} in {meta['grade_id']}:\n"
                f"{_output_text(executed)}")
            session.reference_scores[meta["grade_id"]] = score
        else:
            executed = session.run(cell.source)
            errors = [o for o in executed.outputs if o.output_type == "error"]
            assert not errors, f"{meta['grade_id']} failed:\n{_output_text(executed)}"


def _cases(kind: str) -> list:
    cases = []
    for module in CORPUS:
        for answer_id, entries in getattr(module, kind).items():
            cases += [pytest.param(module.ASSIGNMENT, answer_id, entry,
                                   id=f"{module.ASSIGNMENT}-{answer_id}-{i}")
                      for i, entry in enumerate(entries)]
    return cases


@pytest.mark.parametrize(("assignment", "answer_id", "mistake"), _cases("MISTAKES"))
def test_mistake_is_named_and_scored_in_proportion(sessions, assignment: str, answer_id: str,
                                                    mistake: Mistake):
    session = sessions(assignment)
    test_id = f"test_{answer_id}"
    score, graded, visible = session.try_answer(answer_id, mistake.cell)
    seen = f"visible output:\n{_output_text(visible)}\n\ngraded output:\n{_output_text(graded)}"
    if mistake.hidden_only:
        assert not _visible_failed(visible), f"a hidden-only mistake fails visibly:\n{seen}"
        assert mistake.phrase in _output_text(graded), f"the hidden test does not name it:\n{seen}"
    else:
        assert _visible_failed(visible), f"the visible test passes this mistake:\n{seen}"
        assert mistake.phrase in _output_text(visible), f"no {mistake.phrase!r} in:\n{seen}"
    assert mistake.score < session.points(test_id)
    assert score == mistake.score, f"scored {score}, the corpus says {mistake.score}:\n{seen}"


@pytest.mark.parametrize(("assignment", "answer_id", "alternative"), _cases("ALTERNATIVES"))
def test_valid_alternative_gets_full_marks(sessions, assignment: str, answer_id: str,
                                           alternative: Alternative):
    session = sessions(assignment)
    score, graded, visible = session.try_answer(answer_id, alternative.cell)
    assert not _visible_failed(visible), _output_text(visible)
    assert score == session.points(f"test_{answer_id}"), _output_text(graded)


@pytest.mark.parametrize("assignment", sorted(BY_ASSIGNMENT))
def test_corpus_covers_every_graded_exercise(sessions, assignment: str):
    module = BY_ASSIGNMENT[assignment]
    session = sessions(assignment)
    answers = {gid for gid, c in _by_grade_id(session.source).items() if _nbgrader(c)["solution"]}
    assert answers == set(module.MISTAKES), "one MISTAKES entry per answer cell"
    assert all(len(entries) >= 3 for entries in module.MISTAKES.values())
    assert module.ALTERNATIVES, "at least one valid alternative per notebook"
    mistakes = [m for entries in module.MISTAKES.values() for m in entries]
    assert sum(m.hidden_only for m in mistakes) <= 0.1 * len(mistakes)


@pytest.mark.parametrize("assignment", sorted(BY_ASSIGNMENT))
def test_submission_with_mistakes_loses_their_points_in_nbgrader(make_course, assignment: str):
    module = BY_ASSIGNMENT[assignment]
    course = make_course(assignment)
    course.generate(assignment)
    source = nbformat.read(course.path("source", assignment) / f"{assignment}.ipynb",
                           as_version=4)
    release = nbformat.read(course.path("release", assignment) / f"{assignment}.ipynb",
                            as_version=4)
    submission = reference_submission(source, release)
    cells = _by_grade_id(submission)
    expected_lost = {}
    for answer_id, index in module.END_TO_END:
        mistake = module.MISTAKES[answer_id][index]
        cells[answer_id].source = mistake.cell
        test_id = f"test_{answer_id}"
        expected_lost[test_id] = _nbgrader(cells[test_id])["points"] - mistake.score
    submit_notebook(course.path("submitted", assignment, "student"), submission, assignment)
    result = course.autograde(assignment, "student")
    assert result["success"], result.get("error")
    scores = course.scores(assignment, "student")
    lost = {gid: _nbgrader(cells[gid])["points"] - score for gid, score in scores.items()
            if score != _nbgrader(cells[gid])["points"]}
    assert lost == expected_lost
