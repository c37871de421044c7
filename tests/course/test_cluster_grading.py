"""Grading on a real Dask cluster gives the scores of a sequential run, records every student
exactly once (a worker killed mid-run included), on PostgreSQL and on SQLite; reruns skip
unchanged submissions.

The cluster is a ``dask scheduler`` and two ``dask worker --nthreads 1 --no-nanny`` processes on
127.0.0.1 started here, each with a bounded lifetime, and stopped by their process ids at
teardown. The class: 16 simulated students, 8 of them submitting the two-exercise ``tiny``
assignment and 8 the one-exercise ``double`` assignment: references, blanks, partial answers,
wrong answers, a student's process that ends itself (``os._exit``) and an infinite loop (stopped
by a short per-cell limit) in each. The expected points are written out by hand below; the
sequential baseline is the ``backprop-course grade`` command (one process per student, one at a
time), run beside the first cluster run (one process per assignment, the two side by side).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import REPO
from nbgrader.api import Gradebook
from one_notebook_course import DOUBLE_SOLUTION, cell
from test_parallel_grading import postgres_url  # noqa: F401  (a fixture: PostgreSQL server)
from tiny_assignment import ASSIGNMENT as TINY
from tiny_assignment import released, tiny_course, with_cells

from backprop_course import coordinator, grade_class, submit_notebook
from backprop_course.__main__ import main
from backprop_course.bundles import empty_gradebook
from backprop_course.manifest import MANIFEST_NAME, GradingManifest

DOUBLE = "double"
CELL_SECONDS = 4
#: Per notebook, and the workers' memory cap (checked on each Dask worker).
LIMITS = {"timeout_per_notebook": 60.0}
#: Runs in this process: no memory cap (pytest's own address space may be large).
HERE = {**LIMITS, "memory_bytes": None}
START_SECONDS = 60
#: Every process this module starts ends by itself after this long, whatever happens here.
LIFETIME = "300s"

RIGHT_S = "def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(-x))"
RIGHT_G = "def sigmoid_grad(x):\n    s = sigmoid(x)\n    return s * (1.0 - s)"
CRASH_G = "import os\ndef sigmoid_grad(x):\n    os._exit(1)"
LOOP_G = "def sigmoid_grad(x):\n    while True:\n        pass"
#: tiny's students: answer cells (None: the release as it is) -> status and points.
TINY_STUDENTS = {
    "t_ada": ({"sigmoid": RIGHT_S, "sigmoid_grad": RIGHT_G}, "graded",
              {"test_sigmoid": 2.0, "test_sigmoid_grad": 3.0}),
    "t_bob": ({"sigmoid": RIGHT_S, "sigmoid_grad": "def sigmoid_grad(x):\n    return sigmoid(x)"},
              "graded", {"test_sigmoid": 2.0, "test_sigmoid_grad": 1.0}),
    "t_cy": ({"sigmoid": "def sigmoid(x):\n    return 0.5 + 0 * x", "sigmoid_grad": RIGHT_G},
             "graded", {"test_sigmoid": 0.0, "test_sigmoid_grad": 1.0}),
    "t_dee": ({"sigmoid": "def sigmoid(x):\n    return np.tanh(x)",
               "sigmoid_grad": "def sigmoid_grad(x):\n    return 0.0"}, "graded",
              {"test_sigmoid": 0.0, "test_sigmoid_grad": 0.0}),
    "t_eve": ({"sigmoid": "def sigmoid(x):\n    return Sigmoid().forward(x)",
               "sigmoid_grad": RIGHT_G}, "graded", {"test_sigmoid": 0.0, "test_sigmoid_grad": 3.0}),
    "t_blank": (None, "graded", {"test_sigmoid": 0.0, "test_sigmoid_grad": 0.0}),
    # the student's process ends itself: only the test cell waiting for it scores 0
    "t_crash": ({"sigmoid": RIGHT_S, "sigmoid_grad": CRASH_G}, "graded",
                {"test_sigmoid": 2.0, "test_sigmoid_grad": 0.0}),
    "t_loop": ({"sigmoid": RIGHT_S, "sigmoid_grad": LOOP_G}, "graded",
               {"test_sigmoid": 2.0, "test_sigmoid_grad": 0.0}),
}
#: double's students, the same way.
DOUBLE_STUDENTS = {
    "d_ref": ("def double(x):\n    return 2.0 * x", "graded",
              {"test_double_scalar": 1.0, "test_double_array": 2.0}),
    "d_times_two": ("def double(x):\n    return x * 2", "graded",
                    {"test_double_scalar": 1.0, "test_double_array": 2.0}),
    "d_scalars_only": ("def double(x):\n    return x + x if isinstance(x, float) else x",
                       "graded", {"test_double_scalar": 1.0, "test_double_array": 0.0}),
    "d_identity": ("def double(x):\n    return x", "graded",
                   {"test_double_scalar": 0.0, "test_double_array": 0.0}),
    "d_blank": (None, "graded", {"test_double_scalar": 0.0, "test_double_array": 0.0}),
    "d_crash": ("import os\ndef double(x):\n    os._exit(1)", "graded",
                {"test_double_scalar": 0.0, "test_double_array": 0.0}),
    "d_loop": ("def double(x):\n    if np.ndim(x):\n        while True:\n            pass\n"
               "    return 2.0 * x", "graded",
               {"test_double_scalar": 1.0, "test_double_array": 0.0}),
    "d_ref_again": ("def double(x):\n    return 2.0 * x", "graded",
                    {"test_double_scalar": 1.0, "test_double_array": 2.0}),
}
EXPECTED = {TINY: {s: (status, points) for s, (_, status, points) in TINY_STUDENTS.items()},
            DOUBLE: {s: (status, points) for s, (_, status, points) in DOUBLE_STUDENTS.items()}}
CELLS = {TINY: 2, DOUBLE: 2}


def _double_source() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [
        cell("setup", "import numpy as np\nfrom backprop_grading import check_close", "setup"),
        cell("answer", DOUBLE_SOLUTION, "double"),
        cell("test", 'check_close(np.asarray(double(3.0)), np.asarray(6.0), "double(3.0) must '
                     'be 6.0")', "test_double_scalar", points=1),
        cell("test", 'x = np.array([[-1.0, 0.5, 2.0]])\ncheck_close(double(x), 2.0 * x, '
                     '"double must double every entry of an array")', "test_double_array",
             points=2),
    ]
    return nb


def class_course(root: Path, db_url: str | None = None):
    """Both assignments generated in one course at ``root``, the 16 students submitted; its
    nbgrader_config.py has the short per-cell limit too (for the command-line run)."""
    if db_url is None:  # an empty gradebook made once per process
        root.mkdir(parents=True, exist_ok=True)
        (root / "gradebook.db").write_bytes(empty_gradebook())
    course = tiny_course(root, cell_timeout=CELL_SECONDS, db_url=db_url)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.timeout = {CELL_SECONDS}\n")
    (root / "solutions" / DOUBLE).mkdir()
    nbformat.write(_double_source(), root / "solutions" / DOUBLE / f"{DOUBLE}.ipynb")
    course.generate(DOUBLE)
    tiny_release = released(course)
    for student, (cells, _, _) in TINY_STUDENTS.items():
        notebook = tiny_release if cells is None else with_cells(tiny_release, **cells)
        submit_notebook(course.path("submitted", TINY, student), notebook, TINY)
    double_release = nbformat.read(course.path("release", DOUBLE) / f"{DOUBLE}.ipynb", 4)
    for student, (answer, _, _) in DOUBLE_STUDENTS.items():
        notebook = double_release if answer is None else with_cells(double_release,
                                                                    double=answer)
        submit_notebook(course.path("submitted", DOUBLE, student), notebook, DOUBLE)
    return course


def _scores(report) -> dict[str, tuple[str, dict[str, float]]]:
    return {row.student: (row.status, row.scores) for row in report.rows}


def _gradebook_rows(course, assignment: str) -> tuple[Counter, int]:
    """Submissions per student and the number of grade rows of ``assignment``."""
    with Gradebook(course.db_url) as gb:
        submissions = gb.find_assignment(assignment).submissions
        per_student = Counter(sub.student.id for sub in submissions)
        grades = sum(len(nb.grades) for sub in submissions for nb in sub.notebooks)
    return per_student, grades


def _stop(process: subprocess.Popen) -> None:
    """End a process this module started, by its id: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and two single-threaded workers on 127.0.0.1: (address, worker Popens)."""
    from distributed import Client

    folder = Path(tempfile.mkdtemp(prefix="bk-dask-"))
    dask = str(Path(sys.executable).parent / "dask")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
                                f"{os.environ.get('PATH', '')}")
    logs = []
    processes: list[subprocess.Popen] = []

    def start(*command: str, log: str) -> subprocess.Popen:
        logs.append(open(folder / log, "w"))
        processes.append(subprocess.Popen(command, env=env, cwd=folder, stdout=logs[-1],
                                          stderr=subprocess.STDOUT))
        return processes[-1]

    scheduler_file = folder / "scheduler.json"
    try:
        start(dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file), "--idle-timeout", LIFETIME,
              log="scheduler.log")
        workers = [start(dask, "worker", "--scheduler-file", str(scheduler_file),
                         "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                         "--no-dashboard", "--lifetime", LIFETIME, "--death-timeout", "30",
                         "--name", f"w{i}", log=f"worker{i}.log") for i in range(2)]
        deadline = time.monotonic() + START_SECONDS
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        with Client(address, timeout=START_SECONDS) as client:
            client.wait_for_workers(2, timeout=START_SECONDS)
        yield address, workers
    finally:
        for process in reversed(processes):
            _stop(process)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The command (``main``, in a new process per assignment), one student at a time,
    started now and collected on first use."""
    course = class_course(tmp_path_factory.mktemp("sequential"))
    runs = []
    for assignment in (TINY, DOUBLE):  # each assignment sequential, the two side by side
        arguments = ["grade", assignment, "--no-progress", "--workers", "1",
                     "--timeout-per-notebook", str(LIMITS["timeout_per_notebook"]),
                     "--memory-limit-gb", "8", "--report", str(course.root / f"{assignment}.csv")]
        script = ("import sys\nfrom backprop_course.__main__ import main\n"
                  f"sys.exit(main({arguments!r}))")
        runs.append(subprocess.Popen([sys.executable, "-c", script], cwd=course.root,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    results = {}

    def collect():
        if not results:
            for run in runs:
                output, _ = run.communicate(timeout=300)
                assert run.returncode == 0, output[-3000:]
            results.update({a: grade_class(course, a, skip_graded=True, **HERE)
                            for a in (TINY, DOUBLE)})
        return course, results

    try:
        yield collect
    finally:
        for run in runs:
            _stop(run)


@pytest.fixture(scope="module")
def on_postgresql(sequential, cluster, postgres_url, tmp_path_factory):  # noqa: F811
    """Both assignments on the cluster into PostgreSQL, while the sequential command runs."""
    address, _ = cluster
    course = class_course(tmp_path_factory.mktemp("postgres"), db_url=postgres_url)
    reports = {a: grade_class(course, a, cluster=address, **LIMITS) for a in (TINY, DOUBLE)}
    return course, reports


def test_postgresql_cluster_run_gives_the_sequential_scores(on_postgresql, sequential):
    course, reports = on_postgresql
    _, baseline = sequential()
    for assignment in (TINY, DOUBLE):
        assert _scores(reports[assignment]) == _scores(baseline[assignment]) \
            == EXPECTED[assignment]
        per_student, grades = _gradebook_rows(course, assignment)
        assert per_student == Counter(list(EXPECTED[assignment]))  # each student once
        assert grades == len(EXPECTED[assignment]) * CELLS[assignment]
    assert course.db_url.startswith("postgresql://")
    assert not (course.root / "gradebook.db").exists(), "the SQLite gradebook must not be used"
    workers = {row.worker for report in reports.values() for row in report.rows}
    assert len(workers) == 2, f"both workers graded: {workers}"


def test_cluster_run_writes_autograded_notebooks_and_feedback(on_postgresql):
    course, reports = on_postgresql
    feedback = course.path("feedback", TINY, "t_bob") / f"{TINY}.html"
    assert "sigmoid_grad is wrong" in feedback.read_text()  # a hidden check's message
    assert (course.path("autograded", TINY, "t_bob") / f"{TINY}.ipynb").is_file()
    crashed = reports[TINY].row("t_crash").failures["test_sigmoid_grad"]
    assert any("stopped answering" in line for line in crashed), crashed
    failures = reports[TINY].row("t_bob").failures["test_sigmoid_grad"]
    assert any("sigmoid_grad is wrong" in line for line in failures), failures


def test_the_sequential_command_gives_the_expected_scores(sequential):
    course, reports = sequential()
    assert {a: _scores(report) for a, report in reports.items()} == EXPECTED
    picture = course.root / f"{TINY}.html"
    # the failure t_crash's own process caused is among the messages, escaped
    assert "stopped answering" in picture.read_text()
    assert (course.root / f"{TINY}.png").stat().st_size


def test_a_rerun_skips_unchanged_submissions_and_grades_a_changed_one(sequential):
    """The baseline's second run (skip_graded, in ``sequential``) graded nobody; now t_dee
    resubmits the right answers and only t_dee is graded again."""
    course, reports = sequential()
    assert all(row.reused for report in reports.values() for row in report.rows)
    manifest = GradingManifest(course.root / MANIFEST_NAME, course.db_url)
    assert manifest.count(TINY) == len(TINY_STUDENTS)
    submit_notebook(course.path("submitted", TINY, "t_dee"),
                    with_cells(released(course), sigmoid=RIGHT_S, sigmoid_grad=RIGHT_G), TINY)
    report = grade_class(course, TINY, skip_graded=True, **HERE)
    graded_again = [row.student for row in report.rows if not row.reused]
    assert graded_again == ["t_dee"]
    assert report.row("t_dee").scores == {"test_sigmoid": 2.0, "test_sigmoid_grad": 3.0}
    unchanged = {s: v for s, v in _scores(report).items() if s != "t_dee"}
    assert unchanged == {s: v for s, v in EXPECTED[TINY].items() if s != "t_dee"}
    assert report.row("t_crash").flags, "the flags of a skipped student come from the manifest"


def test_force_grades_unchanged_submissions_again(sequential, monkeypatch):
    course, _ = sequential()
    calls = []
    monkeypatch.setattr("backprop_course.__main__.grade_class",
                        lambda *args, **kw: calls.append(kw["skip_graded"]) or grade_class(
                            *args, **{**kw, "memory_bytes": None}))
    common = ["grade", TINY, "--course-dir", str(course.root), "--students", "t_ada",
              "--no-progress"]
    assert main(common) == 0
    assert main([*common, "--force"]) == 0
    assert calls == [True, False]
    manifest = GradingManifest(course.root / MANIFEST_NAME, course.db_url)
    assert manifest.get(TINY, "t_ada").recorded_at  # recorded again by the forced run


def _kill_a_busy_worker(workers: list[subprocess.Popen], done: threading.Event,
                        killed: dict) -> None:
    """SIGKILL the first worker seen grading (it has a forked grading process: a child with
    the worker's own command line) for a second."""
    busy_since: dict[int, float] = {}
    while not done.is_set():
        for worker in workers:
            try:
                process = psutil.Process(worker.pid)
                forked = [child for child in process.children()
                          if child.cmdline() == process.cmdline()]
                children = process.children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            if not forked:
                busy_since.pop(worker.pid, None)
                continue
            since = busy_since.setdefault(worker.pid, time.monotonic())
            if time.monotonic() - since > 1.0:
                killed["pid"], killed["children"] = worker.pid, [c.pid for c in children]
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
                return
        time.sleep(0.1)


def test_killing_a_worker_mid_run_still_records_every_student_once(cluster, sequential,
                                                                     tmp_path, monkeypatch):
    """Both assignments on the cluster into SQLite; a worker is killed while it grades the
    second (so that most of the run has two workers)."""
    address, workers = cluster
    _, baseline = sequential()
    baseline_scores = {a: _scores(report) for a, report in baseline.items()}
    course = class_course(tmp_path / "sqlite")
    recorded = Counter()
    record = coordinator._record
    monkeypatch.setattr(coordinator, "_record", lambda course, assignment, notebooks, outcome:
                        recorded.update([(assignment, outcome.student)])
                        or record(course, assignment, notebooks, outcome))
    reports = {TINY: grade_class(course, TINY, cluster=address, **LIMITS)}
    done, killed = threading.Event(), {}
    watcher = threading.Thread(target=_kill_a_busy_worker, args=(workers, done, killed))
    watcher.start()
    try:
        reports[DOUBLE] = grade_class(course, DOUBLE, cluster=address, **LIMITS)
    finally:
        done.set()
        watcher.join()
    assert killed, "no worker was seen grading"
    for assignment in (TINY, DOUBLE):
        assert _scores(reports[assignment]) == baseline_scores[assignment] \
            == EXPECTED[assignment]
        per_student, grades = _gradebook_rows(course, assignment)
        assert per_student == Counter(list(EXPECTED[assignment]))
        assert grades == len(EXPECTED[assignment]) * CELLS[assignment]
    assert recorded == Counter((a, s) for a in (TINY, DOUBLE) for s in EXPECTED[a]), \
        "every student recorded exactly once"
    survivor = next(str(w.pid) for w in workers if w.pid != killed["pid"])
    graded_by = Counter(row.worker.rsplit(":", 1)[1] for report in reports.values()
                        for row in report.rows)
    assert set(graded_by) <= {survivor, str(killed["pid"])}
    assert graded_by[survivor] >= len(EXPECTED[DOUBLE]) // 2, "the survivor took over"
    deadline = time.monotonic() + 10
    while _alive(killed["children"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(killed["children"]), \
        "the killed worker's grading process and kernel end with it"


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_a_malformed_cluster_option_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    status = main(["grade", TINY, "--course-dir", str(tmp_path), "--cluster", "local:0"])
    assert status == 2
    assert "local:N needs a number of workers N >= 1" in capsys.readouterr().err
