"""nbgrader's exchange, end to end, with the tiny assignment (tests/tiny_assignment.py).

The instructor releases the assignment; three students, each with their own HOME and user name,
fetch it, answer it (fully, not at all, in part) and submit it; the instructor collects, grades
with the course's ``grade`` command (sandboxed), generates and releases feedback; each student
fetches their own feedback, and a fourth user, who never submitted, fetches nothing.

nbgrader 0.9.6's default exchange takes a student's id from the Unix user of the process
(``nbgrader.utils.get_osusername``, a ``pwd`` lookup of the uid: ``get_username`` in
``nbgrader/utils.py``, called by ``ExchangeSubmit.init_dest`` and
``ExchangeFetchFeedback.init_src``). These tests run as one user, so each student's step runs
with that student's HOME, USER, LOGNAME and working directory, and that lookup answers USER.
Everything else (the exchange and its modes, the cache under HOME, the file names) is nbgrader's.
The students' steps run in this process: a fresh interpreter per step would cost about 3 s of
CPU each to import nbgrader, nine times over.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import nbgrader.utils
import pytest
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import (
    ExchangeFetchAssignment,
    ExchangeFetchFeedback,
    ExchangeSubmit,
)
from tiny_assignment import ASSIGNMENT, MAX_POINTS, tiny_course, with_cells
from traitlets.config import Config

from backprop_course import Course
from backprop_course.__main__ import main

SIGMOID = "def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(-x))"
SIGMOID_GRAD = "def sigmoid_grad(x):\n    s = sigmoid(x)\n    return s * (1.0 - s)"
#: Right shape, wrong values: the shape part of the rubric (1 point) and not the values (2).
WRONG_SIGMOID_GRAD = "def sigmoid_grad(x):\n    return sigmoid(x)"
#: Each student's answers (grade_id -> source); None submits the fetched notebook untouched.
ANSWERS: dict[str, dict[str, str] | None] = {
    "ada": {"sigmoid": SIGMOID, "sigmoid_grad": SIGMOID_GRAD},
    "ben": None,
    "pat": {"sigmoid": SIGMOID, "sigmoid_grad": WRONG_SIGMOID_GRAD},
}
#: Points per test cell the rubric of tests/tiny_assignment.py gives those answers.
EXPECTED_SCORES = {
    "ada": {"test_sigmoid": 2.0, "test_sigmoid_grad": 3.0},
    "ben": {"test_sigmoid": 0.0, "test_sigmoid_grad": 0.0},
    "pat": {"test_sigmoid": 2.0, "test_sigmoid_grad": 1.0},
}
#: A user of the same machine who never submitted.
OUTSIDER = "eve"

# nbgrader 0.9.6's NbGraderAPI.release_feedback passes ``authentictor=`` (sic) to the exchange,
# which traitlets reports as an unknown argument; the exchange falls back to its default
# Authenticator, as it would with the keyword spelt right.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Passing unrecognized arguments to super\(ExchangeReleaseFeedback\)"
    ":DeprecationWarning")


@dataclass
class Flow:
    """What the whole flow left behind, for the tests to inspect."""

    course: Course
    exchange: Path
    course_id: str
    homes: dict[str, Path]
    grade_status: int
    grade_output: str


@contextlib.contextmanager
def as_user(name: str, home: Path) -> Iterator[None]:
    """Run the body as if user ``name`` (HOME ``home``) ran it, in ``home``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("USER", name)
        patch.setenv("LOGNAME", name)
        for variable in ("JUPYTER_DATA_DIR", "XDG_DATA_HOME"):  # the cache must follow HOME
            patch.delenv(variable, raising=False)
        patch.setattr(nbgrader.utils, "get_osusername", lambda: os.environ["USER"])
        patch.chdir(home)
        yield


def student_step(step: type, name: str, home: Path, exchange: Path, course_id: str) -> None:
    """Run one of nbgrader's student-side exchange steps as ``name``, configured as a student's
    own nbgrader_config.py would be: the course id and the exchange root, nothing else."""
    config = Config()
    config.CourseDirectory.course_id = course_id
    config.CourseDirectory.assignment_id = ASSIGNMENT
    config.Exchange.root = str(exchange)
    with as_user(name, home):
        step(coursedir=CourseDirectory(config=config), authenticator=Authenticator(config=config),
             config=config).start()


def succeeded(result: dict, step: str) -> None:
    assert result["success"], f"nbgrader {step} failed:\n{result.get('error')}\n{result.get('log')}"


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> Flow:
    course = tiny_course(tmp_path_factory.mktemp("exchange") / "course")
    exchange = Path(course.config.Exchange.root)
    course_id = course.config.CourseDirectory.course_id
    homes = {name: tmp_path_factory.mktemp(f"home-{name}") for name in [*ANSWERS, OUTSIDER]}

    succeeded(course.api.release_assignment(ASSIGNMENT), "release_assignment")
    for name, answers in ANSWERS.items():
        student_step(ExchangeFetchAssignment, name, homes[name], exchange, course_id)
        fetched = homes[name] / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        if answers is not None:
            nbformat.write(with_cells(nbformat.read(fetched, as_version=4), **answers), fetched)
        student_step(ExchangeSubmit, name, homes[name], exchange, course_id)

    succeeded(course.api.collect(ASSIGNMENT), "collect")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = main(["grade", ASSIGNMENT, "--course-dir", str(course.root), "--workers", "2",
                       "--timeout-per-notebook", "60", "--no-progress"])
    succeeded(course.api.generate_feedback(ASSIGNMENT), "generate_feedback")
    succeeded(course.api.release_feedback(ASSIGNMENT), "release_feedback")

    for name, home in homes.items():
        student_step(ExchangeFetchFeedback, name, home, exchange, course_id)
    return Flow(course, exchange, course_id, homes, status, output.getvalue())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_collect_finds_each_student_under_their_own_user_name(flow):
    assert flow.course.submitted_students(ASSIGNMENT) == sorted(ANSWERS)


def test_grade_command_scores_each_collected_submission(flow):
    assert flow.grade_status == 0, flow.grade_output
    assert flow.course.score_table(ASSIGNMENT) == EXPECTED_SCORES
    for name, scores in EXPECTED_SCORES.items():
        cells = r"\s+".join(f"{points:g}" for points in scores.values())
        row = rf"^{name}\s+graded\s+{cells}\s+{sum(scores.values()):g}\s+5$"
        assert re.search(row, flow.grade_output, re.MULTILINE), flow.grade_output


def test_grade_command_flags_nothing_that_nbgrader_itself_put_in_a_submission(flow):
    """submit adds timestamp.txt and submission_secret.txt to every submission; neither is the
    student's doing, so neither may be flagged as an extra file."""
    flagged = [line for line in flow.grade_output.splitlines()
               if line.startswith(tuple(f"{name}: " for name in ANSWERS))]
    assert flagged == [], flow.grade_output


def test_exchange_has_the_modes_nbgrader_gives_it(flow):
    """Modes set by nbgrader 0.9.6's default exchange (groupshared off): the root is world
    writable (its docs: ``chmod ugo+rw``; release sets 0777, no sticky bit); students can read the
    released files, write into inbound without listing it, and reach a feedback file only by its
    name, which only the submitter can compute."""
    course_dir = flow.exchange / flow.course_id
    assert mode(flow.exchange) == 0o777
    assert mode(course_dir) == 0o755
    assert mode(course_dir / "outbound") == 0o755
    released = course_dir / "outbound" / ASSIGNMENT
    assert mode(released) == 0o755
    assert mode(released / f"{ASSIGNMENT}.ipynb") == 0o644
    assert mode(course_dir / "inbound") == 0o2733
    submissions = sorted((course_dir / "inbound").iterdir())
    assert [p.name.split("+")[:2] for p in submissions] == [[n, ASSIGNMENT] for n in ANSWERS]
    for submission in submissions:
        assert mode(submission) == 0o777
        assert {p.name: mode(p) for p in submission.iterdir()} == {
            f"{ASSIGNMENT}.ipynb": 0o644, "timestamp.txt": 0o644, "submission_secret.txt": 0o644}
    assert mode(course_dir / "feedback") == 0o711


def test_released_feedback_is_named_without_any_student_name(flow):
    released = sorted(p.name for p in (flow.exchange / flow.course_id / "feedback").iterdir())
    assert len(released) == len(ANSWERS)
    assert all(re.fullmatch(r"[0-9a-f]{32,}\.html", name) for name in released), released


def test_each_student_fetches_only_their_own_feedback(flow):
    for name, scores in EXPECTED_SCORES.items():
        fetched = sorted((flow.homes[name] / ASSIGNMENT / "feedback").glob("*/*"))
        assert [p.name for p in fetched] == [f"{ASSIGNMENT}.html"], fetched
        own = flow.course.path("feedback", ASSIGNMENT, name) / f"{ASSIGNMENT}.html"
        assert fetched[0].read_bytes() == own.read_bytes()
        listed = re.findall(r"Score: ([\d.]+) / ([\d.]+)\)", fetched[0].read_text())
        total = (sum(scores.values()), sum(MAX_POINTS.values()))
        per_cell = [(scores[cell], top) for cell, top in MAX_POINTS.items()]
        assert [(float(a), float(b)) for a, b in listed] == [total, *per_cell], name


def test_the_submission_secret_stays_in_the_students_own_home(flow):
    """fetch_feedback finds a feedback file through the secret in the student's cache (under
    HOME): each cache holds that student's submission only, and a user without one gets none."""
    for name in ANSWERS:
        cache = flow.homes[name] / ".local" / "share" / "jupyter" / "nbgrader_cache"
        cached = sorted(p.name.split("+")[0] for p in (cache / flow.course_id).iterdir())
        assert cached == [name]
    assert not (flow.homes[OUTSIDER] / ASSIGNMENT).exists()
    assert not (flow.homes[OUTSIDER] / ".local").exists()
