"""Parallel grading gives the scores of a sequential run, on SQLite and on a real PostgreSQL.

The PostgreSQL server is a throwaway cluster made by this module (initdb in a temporary
folder, listening only on a unix socket there) and stopped at teardown. .ci/run installs
Debian's postgresql package; where its binaries cannot be found the PostgreSQL test is skipped.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from tiny_assignment import ASSIGNMENT, released, tiny_course, with_cells

from backprop_course import grade_class, submit_notebook

RIGHT_S = "def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(-x))"
RIGHT_G = "def sigmoid_grad(x):\n    s = sigmoid(x)\n    return s * (1.0 - s)"
#: student -> (sigmoid answer, sigmoid_grad answer, expected points per test cell)
STUDENTS = {
    "ada": (RIGHT_S, RIGHT_G, {"test_sigmoid": 2.0, "test_sigmoid_grad": 3.0}),
    "bob": (RIGHT_S, "def sigmoid_grad(x):\n    return sigmoid(x)",
            {"test_sigmoid": 2.0, "test_sigmoid_grad": 1.0}),
    "cy": ("def sigmoid(x):\n    return 0.5 + 0 * x", RIGHT_G,
           {"test_sigmoid": 0.0, "test_sigmoid_grad": 1.0}),
    "dee": ("def sigmoid(x):\n    return np.tanh(x)", "def sigmoid_grad(x):\n    return 0.0",
            {"test_sigmoid": 0.0, "test_sigmoid_grad": 0.0}),
    "eve": ("def sigmoid(x):\n    return Sigmoid().forward(x)", RIGHT_G,
            {"test_sigmoid": 0.0, "test_sigmoid_grad": 3.0}),
}
LIMITS = {"timeout_per_notebook": 60.0, "memory_bytes": None}


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl") or next(iter(sorted(glob.glob(
        "/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)), None)
    return Path(os.path.realpath(found)).parent if found else None


def _as_server_user(folder: Path) -> list[str]:
    """Prefix that runs a command as a user PostgreSQL accepts (it refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    for path in (folder, *folder.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="module")
def postgres_url():
    """URL of a fresh PostgreSQL cluster on a unix socket in a temporary folder."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (pg_ctl, initdb) not found; .ci/run installs them")
    folder = Path(tempfile.mkdtemp(prefix="bk-pg-"))  # under /tmp: reachable by 'postgres'
    folder.chmod(0o755)
    data = folder / "data"
    run_as = _as_server_user(folder)

    def run(*command: str, check: bool = True) -> None:
        subprocess.run([*run_as, *command], check=check, capture_output=True, text=True)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "--no-sync")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
            "-o", f"-c listen_addresses='' -c unix_socket_directories='{folder}' -c fsync=off",
            "start")
    except subprocess.CalledProcessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {error.stderr}")
    try:
        yield f"postgresql://postgres@/postgres?host={folder}"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _class_course(root: Path, db_url: str | None = None):
    course = tiny_course(root, db_url=db_url)
    release = released(course)
    for student, (s, g, _) in STUDENTS.items():
        submit_notebook(course.path("submitted", ASSIGNMENT, student),
                        with_cells(release, sigmoid=s, sigmoid_grad=g), ASSIGNMENT)
    return course


def _scores(report):
    return {row.student: (row.status, row.scores) for row in report.rows}


EXPECTED = {student: ("graded", points) for student, (_, _, points) in STUDENTS.items()}


@pytest.fixture(scope="module")
def sequential_scores(tmp_path_factory):
    course = _class_course(tmp_path_factory.mktemp("sequential"))
    sequential = _scores(grade_class(course, ASSIGNMENT, workers=1, **LIMITS))
    return course, sequential


def test_sequential_run_gives_the_expected_scores(sequential_scores):
    _, sequential = sequential_scores
    assert sequential == EXPECTED


def test_three_workers_on_sqlite_give_the_sequential_scores(sequential_scores):
    course, sequential = sequential_scores
    parallel = _scores(grade_class(course, ASSIGNMENT, workers=3, **LIMITS))  # regrade
    assert parallel == sequential
    assert course.score_table(ASSIGNMENT) == {s: p for s, (_, p) in sequential.items()}


def test_three_workers_on_postgresql_give_the_sequential_scores(
        sequential_scores, postgres_url, tmp_path):
    _, sequential = sequential_scores
    course = _class_course(tmp_path, db_url=postgres_url)
    parallel = _scores(grade_class(course, ASSIGNMENT, workers=3, **LIMITS))
    assert parallel == sequential
    assert course.db_url.startswith("postgresql://")
    assert not (tmp_path / "gradebook.db").exists(), "the SQLite gradebook must not be used"


def test_the_warm_up_freezes_the_heap_only_while_runs_are_forked(tmp_path, monkeypatch):
    """The forked runs skip the coordinator's objects in their garbage collections
    (``gc.freeze`` after the warm-up); once grading ends, those objects are collectable again."""
    import gc

    from backprop_course import coordinator

    course = tiny_course(tmp_path)
    submit_notebook(course.path("submitted", ASSIGNMENT, "ada"),
                    with_cells(released(course), sigmoid=RIGHT_S, sigmoid_grad=RIGHT_G),
                    ASSIGNMENT)
    frozen_while_forking = []
    run_locally = coordinator._run_locally

    def observed(*args, **kwargs):
        frozen_while_forking.append(gc.get_freeze_count())
        return run_locally(*args, **kwargs)

    monkeypatch.setattr(coordinator, "_run_locally", observed)
    assert gc.get_freeze_count() == 0
    report = grade_class(course, ASSIGNMENT, workers=1, **LIMITS)
    assert _scores(report) == {"ada": EXPECTED["ada"]}
    assert len(frozen_while_forking) == 1 and frozen_while_forking[0] > 100_000
    assert gc.get_freeze_count() == 0
