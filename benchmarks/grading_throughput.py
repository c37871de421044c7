"""Grading throughput here and on Dask: ``python -m benchmarks.grading_throughput``.

Autogrades the same class (``--students`` copies of the reference solution of an assignment,
default 8 of 01_chain_rule) in a temporary course, in the ways named by ``--ways``:

- ``nbgrader``: plain ``nbgrader autograde`` with the course's configuration (sandboxed); at
  W workers, W processes, each with its share of the class;
- ``nbgrader, no sandbox``: the same with ``--TrustedExecute.sandbox=False``;
- ``nbgrader, stock``: plain ``nbgrader autograde`` as nbgrader ships it: its own default
  autograde preprocessors (nbgrader's ``Execute``: one ordinary kernel per notebook, no
  sandbox, no trusted split), set on the command line over the course's list. This is the
  baseline of issue 14's targets;
- ``nbgrader, stock + feedback``: the same, then ``nbgrader generate_feedback`` with nbgrader's
  own feedback steps (no sanitising): what ``course`` does, the stock way;
- ``course``: the command ``backprop-course grade --workers W --force`` (:func:`~backprop_course.
  grade_class`: a forked process per student grading from bytes in a scratch course, kernels
  sandboxed, the command's process recording each outcome, feedback included), run as a new
  process like the nbgrader ways, so that its start-up counts as theirs does;
- ``course --no-feedback``: the same, grading only: the same work as nbgrader's autograde;
- ``course --no-sandbox``: ``course`` without the sandbox;
- ``course, cold``: ``course`` with ``c.TrustedExecute.warm_start = False`` added to the
  course's ``nbgrader_config.py``: a new Python in each sandbox instead of a fork of the
  pre-imported zygote (:mod:`backprop_course.trusted.zygote`);
- ``cluster``: ``backprop-course grade --cluster`` on a ``local:W`` Dask cluster (W
  single-threaded worker processes), started before the clock starts (its start-up time is
  printed apart); its first run includes each worker building its copy of the assignment.

The ``course`` run at 1 worker goes through this module (``--clocked-command``: the same
command's ``main``, in a new process, with the coordinator's recording timed for the estimate).

With ``--rounds R`` every way runs R times, the ways interleaved (this machine's speed drifts
by a third over minutes; each figure is then the median, with the range of the seconds, and the
target ratios are also given round by round: each round's ways ran minutes apart at most).
Prints seconds per run, the CPU seconds the whole machine spent per student during the run
(from ``/proc/stat``: every process counts, the sandboxed ones included; run it on an otherwise
quiet machine), students per second, the speed-up over the same way at 1 worker (for
the cluster: over ``course`` at 1 worker), the scaling efficiency (speed-up / workers) and,
when ``nbgrader, stock`` ran, each run's throughput per core over stock nbgrader's at 1 worker
(``stock seconds x 1 / (seconds x workers)``; issue 14's target: at least 1.5) and over stock
nbgrader's at the same number of workers; the sandbox's overhead (sandboxed seconds /
unsandboxed seconds; target: at most 1.2) when both ran; and an estimate for a class of
``--class-size`` students x ``--notebooks`` notebooks at 1, 8 and 64 workers, from the measured
seconds per notebook of ``course`` at 1 worker, the measured 2-worker efficiency, and the
coordinator's measured recording time per student (the one writer's limit). A measurement, not
a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# First, as the command itself starts: what it keeps out of its process stays out of this one's
# (the 1-worker ``course`` run is this module's ``--clocked-command``).
import backprop_course.__main__
from backprop_course import (
    Course,
    coordinator,
    course_config,
    reference_submission,
    submit_notebook,
)

REPO = Path(__file__).resolve().parent.parent
WAYS = ("nbgrader, stock", "nbgrader, stock + feedback", "nbgrader", "nbgrader, no sandbox",
        "course", "course --no-feedback", "course --no-sandbox", "course, cold", "cluster")
STOCK = "nbgrader, stock"
STOCK_FEEDBACK = "nbgrader, stock + feedback"
#: nbgrader 0.9.6's own ``GenerateFeedback.preprocessors`` (with its own exporter, nbconvert's
#: ``HTMLExporter``, and no ``HTMLExporter.preprocessors``).
NBGRADER_DEFAULT_FEEDBACK = ("nbgrader.preprocessors.GetGrades",
                             "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor")
#: nbgrader 0.9.6's own ``Autograde.autograde_preprocessors`` (its class default).
NBGRADER_DEFAULT_AUTOGRADE = (
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata")
#: The estimate's worker counts.
ESTIMATE_WORKERS = (1, 8, 64)


def make_course(root: Path, assignment: str, students: int) -> tuple[Course, list[str]]:
    """A course with ``students`` reference submissions of ``assignment``."""
    import nbformat

    shutil.copytree(REPO / "solutions" / assignment, root / "solutions" / assignment)
    shutil.copy(REPO / "nbgrader_config.py", root)
    course = Course(root, course_config(root))
    course.generate(assignment)
    source = nbformat.read(root / "solutions" / assignment / f"{assignment}.ipynb", 4)
    release = nbformat.read(course.path("release", assignment) / f"{assignment}.ipynb", 4)
    names = [f"student{i:02d}" for i in range(students)]
    for name in names:
        submit_notebook(course.path("submitted", assignment, name),
                        reference_submission(source, release), assignment)
    return course, names


class RecordClock:
    """Adds up the time the coordinator spends recording outcomes (files and gradebook), and
    the workers' time making feedback."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.feedback_seconds = 0.0
        self.count = 0
        self._record = coordinator._record

    def __enter__(self) -> RecordClock:
        def timed(course, assignment, notebooks, outcome):
            start = time.perf_counter()
            try:
                return self._record(course, assignment, notebooks, outcome)
            finally:
                self.seconds += time.perf_counter() - start
                self.feedback_seconds += outcome.feedback_seconds
                self.count += 1
        coordinator._record = timed
        return self

    def __exit__(self, *exc) -> None:
        coordinator._record = self._record

    def figures(self) -> dict[str, float]:
        return {"seconds": self.seconds, "feedback_seconds": self.feedback_seconds,
                "count": self.count}

    def add(self, figures: dict[str, float]) -> None:
        """Add another process's :meth:`figures`."""
        self.seconds += figures["seconds"]
        self.feedback_seconds += figures["feedback_seconds"]
        self.count += int(figures["count"])


def single_threaded_env() -> dict[str, str]:
    """This environment with numpy's BLAS single-threaded, for every command timed."""
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def time_course(course: Course, assignment: str, workers: int, *options: str,
                cluster: str | None = None, clock: RecordClock | None = None) -> float:
    """Seconds the grade command takes, run as a new process (``options``: its flags, e.g.
    ``--no-sandbox``); ``clock``: run it through :func:`clocked_command` and add its figures."""
    command = ["grade", assignment, "--course-dir", str(course.root), "--force", "--no-progress",
               *(["--cluster", cluster] if cluster else ["--workers", str(workers)]), *options]
    with tempfile.TemporaryDirectory(prefix="bk-bench-") as folder:
        clock_file = Path(folder, "clock.json")
        prefix = (["-m", "benchmarks.grading_throughput", "--clocked-command", str(clock_file),
                   "--"] if clock is not None else ["-m", "backprop_course"])
        start = time.perf_counter()
        run = subprocess.run([sys.executable, *prefix, *command], cwd=REPO,
                             env=single_threaded_env(), capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if run.returncode:
            raise RuntimeError(f"{shlex.join(command)} failed:\n{run.stderr[-3000:]}")
        if clock is not None:
            clock.add(json.loads(clock_file.read_text()))
    table = course.score_table(assignment)
    students = course.submitted_students(assignment)
    _require_full_marks([(s, "graded", sum(table[s].values())) for s in students],
                        sum(course.graded_cells(assignment).values()))
    return elapsed


def clocked_command(clock_file: str, argv: list[str]) -> int:
    """The grade command's ``main(argv)`` with :class:`RecordClock` on; its figures go to
    ``clock_file`` (JSON)."""
    clock = RecordClock()
    with clock:
        status = backprop_course.__main__.main(argv)
    Path(clock_file).write_text(json.dumps(clock.figures()))
    return status


@contextlib.contextmanager
def cold_starts(course: Course) -> Iterator[None]:
    """Every answer server of the course started cold (no zygote), by its configuration file,
    for the ``with`` block."""
    path = course.root / "nbgrader_config.py"
    text = path.read_text()
    path.write_text(text + "\nc.TrustedExecute.warm_start = False\n")
    try:
        yield
    finally:
        path.write_text(text)


def timed_cold(course: Course, assignment: str, workers: int) -> float:
    with cold_starts(course):
        return time_course(course, assignment, workers)


def time_nbgrader(course: Course, assignment: str, names: list[str], workers: int,
                  sandbox: bool, stock: bool = False, feedback: bool = False) -> float:
    """Plain ``nbgrader autograde`` processes, each excluding the other workers' students;
    ``stock``: with nbgrader's default autograde preprocessors instead of the course's;
    ``feedback``: each then runs nbgrader's stock ``generate_feedback`` on its students."""
    env = single_threaded_env()
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    start = time.perf_counter()
    runs = []
    ipc_folders = [tempfile.mkdtemp(prefix="bk-bench-") for _ in range(workers)]
    for worker in range(workers):
        others = [name for i, name in enumerate(names) if i % workers != worker]
        command = [nbgrader, "autograde", assignment, "--force",
                   "--KernelManager.transport=ipc",
                   f"--KernelManager.ip={ipc_folders[worker]}/kernel",
                   f"--TrustedExecute.sandbox={sandbox}"]
        if stock:
            command += [f"--Autograde.autograde_preprocessors={name}"
                        for name in NBGRADER_DEFAULT_AUTOGRADE]
        exclude = [f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else []
        command += exclude
        if feedback:
            then = [nbgrader, "generate_feedback", assignment, "--force", *exclude,
                    "--HTMLExporter.preprocessors=[]",
                    "--GenerateFeedback.exporter_class=nbconvert.exporters.HTMLExporter",
                    *(f"--GenerateFeedback.preprocessors={name}"
                      for name in NBGRADER_DEFAULT_FEEDBACK)]
            command = ["/bin/sh", "-c", f"{shlex.join(command)} && exec {shlex.join(then)}"]
        runs.append(subprocess.Popen(command, cwd=course.root, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    errors = [run.communicate()[1] for run in runs]
    elapsed = time.perf_counter() - start
    for folder in ipc_folders:
        shutil.rmtree(folder, ignore_errors=True)
    if any(run.returncode for run in runs):
        raise RuntimeError(b"\n".join(errors).decode(errors="replace")[-3000:])
    table = course.score_table(assignment)
    _require_full_marks([(s, "graded", sum(table[s].values())) for s in names],
                        sum(course.graded_cells(assignment).values()))
    missing = [s for s in names if feedback and not list(
        course.path("feedback", assignment, s).glob("*.html"))]
    if missing:
        raise RuntimeError(f"no feedback was made for {missing}")
    return elapsed


def machine_cpu_seconds() -> float:
    """CPU seconds this machine has spent busy since it started (``/proc/stat``: all cores,
    every process: user, nice, system, irq and softirq time; idle, I/O wait and the time a
    virtual machine's host gave to others, steal, left out)."""
    with open("/proc/stat") as stat:
        user, nice, system, _, _, irq, softirq = (
            int(field) for field in stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _require_full_marks(rows: list[tuple[str, str, float]], max_total: float) -> None:
    wrong = [row for row in rows if row[1:] != ("graded", max_total)]
    if wrong:
        raise RuntimeError(f"a reference submission did not get full marks: {wrong}")


def estimate_hours(seconds_per_notebook: float, record_seconds: float, efficiency: float,
                   students: int, notebooks: int, workers: int) -> tuple[float, float, float]:
    """Hours to grade ``students`` x ``notebooks`` with ``workers`` workers.

    Returns
    -------
    (worker-bound hours, coordinator-bound hours, estimate = the larger)
        Worker-bound: every notebook's measured time, shared by ``workers`` at ``efficiency``
        (the measured 2-worker efficiency; each worker its own core). Coordinator-bound: the
        one writer records the outcomes one after the other; each notebook of the course is its
        own assignment, so ``students * notebooks`` outcomes.
    """
    by_workers = students * notebooks * seconds_per_notebook / (workers * efficiency) / 3600
    by_writer = students * notebooks * record_seconds / 3600
    return by_workers, by_writer, max(by_workers, by_writer)


def per_round(samples: dict[tuple[str, int], list[tuple[float, float]]],
              base: tuple[str, int], way: tuple[str, int]) -> str:
    """The throughput per core of ``way`` over ``base``'s, round by round (the two ran minutes
    apart at most, so that the machine's drift between rounds cancels): median and range; ""
    with fewer than two rounds."""
    pairs = list(zip(samples.get(base, []), samples.get(way, []), strict=False))
    if len(pairs) < 2:
        return ""
    ratios = sorted(b * base[1] / (w * way[1]) for (b, _), (w, _) in pairs)
    return (f"; round by round {statistics.median(ratios):.2f}x "
            f"({ratios[0]:.2f}-{ratios[-1]:.2f})")


def parse_ways(text: str) -> list[str]:
    """Ways named in a comma-separated list; a way whose name holds a comma ("nbgrader, stock")
    is taken whole when its pieces follow each other."""
    pieces = [piece.strip() for piece in text.split(",") if piece.strip()]
    ways = []
    while pieces:
        joined = f"{pieces[0]}, {pieces[1]}" if len(pieces) > 1 else None
        if joined in WAYS:
            ways.append(joined)
            del pieces[:2]
        else:
            ways.append(pieces.pop(0))
    return ways


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--clocked-command"] and argv[2:3] == ["--"]:
        return clocked_command(argv[1], argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="01_chain_rule")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="the parallel runs' workers")
    parser.add_argument("--ways", default=",".join(WAYS),
                        help=f"comma-separated, of: {', '.join(WAYS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every way this many times, interleaved; medians are shown")
    parser.add_argument("--class-size", type=int, default=1000)
    parser.add_argument("--notebooks", type=int, default=11)
    args = parser.parse_args(argv)
    ways = parse_ways(args.ways)
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        parser.error(f"unknown ways {unknown}; choose from {', '.join(WAYS)}")
    w = args.workers
    seconds: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    spread: dict[tuple[str, int], tuple[float, float]] = {}
    clock = RecordClock()
    startup = None
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bk-throughput-") as tmp:
        course, names = make_course(Path(tmp), args.assignment, args.students)
        a = args.assignment
        runs: dict[str, Callable[[int], float]] = {
            STOCK: lambda n: time_nbgrader(course, a, names, n, False, stock=True),
            STOCK_FEEDBACK: lambda n: time_nbgrader(course, a, names, n, False, stock=True,
                                                    feedback=True),
            "nbgrader": lambda n: time_nbgrader(course, a, names, n, True),
            "nbgrader, no sandbox": lambda n: time_nbgrader(course, a, names, n, False),
            "course": lambda n: time_course(course, a, n, clock=clock if n == 1 else None),
            "course --no-feedback": lambda n: time_course(course, a, n, "--no-feedback"),
            "course --no-sandbox": lambda n: time_course(course, a, n, "--no-sandbox"),
            "course, cold": lambda n: timed_cold(course, a, n),
        }
        for _ in range(args.rounds):  # interleaved: a slow spell of the machine hits every way
            for way in ways:
                if way in runs:
                    for n in (1, w):
                        before = machine_cpu_seconds()
                        elapsed = runs[way](n)
                        samples.setdefault((way, n), []).append(
                            (elapsed, machine_cpu_seconds() - before))
        for key, runs_of_key in samples.items():
            seconds[key] = statistics.median(elapsed for elapsed, _ in runs_of_key)
            cpu[key] = statistics.median(used for _, used in runs_of_key)
            spread[key] = (min(e for e, _ in runs_of_key), max(e for e, _ in runs_of_key))
        if "cluster" in ways:
            from backprop_course.cluster import connect, parse_cluster
            start = time.perf_counter()
            with connect(parse_cluster(f"local:{w}")) as client:
                startup = time.perf_counter() - start
                before = machine_cpu_seconds()
                seconds["cluster", w] = time_course(course, a, 1,
                                                    cluster=client.scheduler.address)
                cpu["cluster", w] = machine_cpu_seconds() - before
    n = args.students
    print(f"{args.assignment}, {n} students, {os.cpu_count()} CPUs"
          + (f", median of {args.rounds} interleaved rounds" if args.rounds > 1 else ""))
    print(f"{'way':<28}{'workers':>8}{'seconds':>9}{'range':>13}{'CPU s/student':>15}"
          f"{'students/s':>12}{'speed-up':>10}"
          f"{'efficiency':>12}{'per core vs stock x1':>22}{'vs stock, same workers':>24}")
    stock_1 = seconds.get((STOCK, 1))
    for (way, workers), elapsed in seconds.items():
        base = seconds.get(("course" if way == "cluster" else way, 1))
        speedup = base / elapsed if base else float("nan")
        per_core = stock_1 / (elapsed * workers) if stock_1 else float("nan")
        same = seconds.get((STOCK, workers))
        low, high = spread.get((way, workers), (elapsed, elapsed))
        print(f"{way:<28}{workers:>8}{elapsed:>9.1f}{f'{low:.1f}-{high:.1f}':>13}"
              f"{cpu[way, workers] / n:>15.2f}"
              f"{n / elapsed:>12.3f}{speedup:>10.2f}"
              f"{speedup / workers:>12.2f}{per_core:>22.2f}"
              f"{same / elapsed if same else float('nan'):>24.2f}")
    if startup is not None:
        print(f"(the local:{w} cluster took {startup:.1f} s to start, not counted above)")
    print()
    for k in (1, w):
        if {("course", k), ("course --no-sandbox", k)} <= set(seconds):
            print(f"{k} worker(s): sandbox overhead (course / course --no-sandbox) "
                  f"{seconds['course', k] / seconds['course --no-sandbox', k]:.2f}x "
                  f"(target <= 1.2)")
        if {("course", k), ("course, cold", k)} <= set(seconds):
            print(f"{k} worker(s): warm starts' speed-up (course, cold / course) "
                  f"{seconds['course, cold', k] / seconds['course', k]:.2f}x")
        if {("nbgrader", k), ("nbgrader, no sandbox", k)} <= set(seconds):
            print(f"{k} worker(s): sandbox overhead (nbgrader / nbgrader, no sandbox) "
                  f"{seconds['nbgrader', k] / seconds['nbgrader, no sandbox', k]:.2f}x")
        for way in ("course", "course --no-feedback"):
            if {(way, k), (STOCK, 1)} <= set(seconds):
                print(f"{k} worker(s): {way}'s throughput per core vs stock nbgrader at 1 "
                      f"worker {seconds[STOCK, 1] / (seconds[way, k] * k):.2f}x (target >= 1.5)"
                      + per_round(samples, (STOCK, 1), (way, k)))
        if {("course", k), (STOCK_FEEDBACK, 1)} <= set(seconds):
            print(f"{k} worker(s): course's throughput per core vs stock nbgrader + feedback at 1 "
                  f"worker {seconds[STOCK_FEEDBACK, 1] / (seconds['course', k] * k):.2f}x"
                  + per_round(samples, (STOCK_FEEDBACK, 1), ("course", k)))
        if {("nbgrader", k), (STOCK, 1)} <= set(seconds):
            print(f"{k} worker(s): plain sandboxed nbgrader's throughput per core vs stock "
                  f"nbgrader at 1 worker {seconds[STOCK, 1] / (seconds['nbgrader', k] * k):.2f}x")
        if {("course", k), (STOCK, k)} <= set(cpu):
            print(f"{k} worker(s): CPU per student, stock nbgrader / course "
                  f"{cpu[STOCK, k] / cpu['course', k]:.2f}x (the course also makes the feedback)")
        if {("course", k), ("nbgrader", k)} <= set(seconds):
            print(f"{k} worker(s): course vs plain sandboxed nbgrader, throughput "
                  f"{seconds['nbgrader', k] / seconds['course', k]:.2f}x")
    if ("course", 1) in seconds and clock.count:
        per_notebook = seconds["course", 1] / n  # one notebook per assignment
        record = clock.seconds / clock.count
        parallel = seconds.get(("cluster", w)) or seconds.get(("course", w))
        efficiency = min(1.0, seconds["course", 1] / parallel / w) if parallel else 1.0
        print(f"\nper notebook {per_notebook:.2f} s (course, 1 worker; of it "
              f"{clock.feedback_seconds / clock.count:.2f} s making feedback); the coordinator "
              f"records a student in {record * 1000:.0f} ms; {w}-worker efficiency "
              f"{efficiency:.2f} (capped at 1)")
        print(f"estimate for {args.class_size} students x {args.notebooks} notebooks "
              f"(each notebook as long as {args.assignment}):")
        print(f"{'workers':>8}{'by workers, h':>15}{'by the writer, h':>18}{'estimate, h':>13}")
        for workers in ESTIMATE_WORKERS:
            hours = estimate_hours(per_notebook, record, efficiency, args.class_size,
                                   args.notebooks, workers)
            print(f"{workers:>8}{hours[0]:>15.2f}{hours[1]:>18.2f}{hours[2]:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
