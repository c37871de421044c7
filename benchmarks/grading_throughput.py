"""Grading throughput with and without the sandbox: ``python -m benchmarks.grading_throughput``.

Autogrades the same class (``--students`` copies of the reference solution of an assignment,
default 8 of 01_chain_rule) in a temporary course, four ways, at 1 and 2 workers:

- ``course``: ``backprop-course grade`` (:func:`~backprop_course.grade_class`: a forked worker
  per student, kernels sandboxed);
- ``course --no-sandbox``: the same without the sandbox;
- ``nbgrader``: plain ``nbgrader autograde`` with the course's configuration (sandboxed); at 2
  workers, two processes, each with half the class;
- ``nbgrader, no sandbox``: the same with ``--SandboxedExecute.sandbox=False``.

Prints seconds per run, students per second per worker, and the ratios the sandbox work is
judged by: sandbox overhead (course / course --no-sandbox) and throughput per worker against
plain unsandboxed nbgrader. A measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from backprop_course import (
    Course,
    course_config,
    grade_class,
    reference_submission,
    submit_notebook,
)

REPO = Path(__file__).resolve().parent.parent


def make_course(root: Path, assignment: str, students: int) -> tuple[Course, list[str]]:
    """A course with ``students`` reference submissions of ``assignment``."""
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


def time_course(course: Course, assignment: str, workers: int, sandbox: bool) -> float:
    start = time.perf_counter()
    report = grade_class(course, assignment, workers=workers, sandbox=sandbox)
    elapsed = time.perf_counter() - start
    _require_full_marks([(row.student, row.status, row.total) for row in report.rows],
                        report.max_total)
    return elapsed


def time_nbgrader(course: Course, assignment: str, names: list[str], workers: int,
                  sandbox: bool) -> float:
    """Plain ``nbgrader autograde`` processes, each excluding the other workers' students."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    start = time.perf_counter()
    runs = []
    ipc_folders = [tempfile.mkdtemp(prefix="bk-bench-") for _ in range(workers)]
    for worker in range(workers):
        others = [name for i, name in enumerate(names) if i % workers != worker]
        command = [nbgrader, "autograde", assignment, "--force",
                   "--KernelManager.transport=ipc",
                   f"--KernelManager.ip={ipc_folders[worker]}/kernel",
                   f"--SandboxedExecute.sandbox={sandbox}"]
        if others:
            command.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
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
    return elapsed


def _require_full_marks(rows: list[tuple[str, str, float]], max_total: float) -> None:
    wrong = [row for row in rows if row[1:] != ("graded", max_total)]
    if wrong:
        raise RuntimeError(f"a reference submission did not get full marks: {wrong}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="01_chain_rule")
    parser.add_argument("--students", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bk-throughput-") as tmp:
        course, names = make_course(Path(tmp), args.assignment, args.students)
        ways = {
            "course": lambda w: time_course(course, args.assignment, w, True),
            "course --no-sandbox": lambda w: time_course(course, args.assignment, w, False),
            "nbgrader": lambda w: time_nbgrader(course, args.assignment, names, w, True),
            "nbgrader, no sandbox": lambda w: time_nbgrader(course, args.assignment, names, w,
                                                            False),
        }
        seconds = {(way, w): run(w) for w in (1, 2) for way, run in ways.items()}
    n = args.students
    print(f"{args.assignment}, {n} students, {os.cpu_count()} CPUs")
    print(f"{'way':<22}{'workers':>8}{'seconds':>9}{'students/s/worker':>19}")
    for (way, w), elapsed in seconds.items():
        print(f"{way:<22}{w:>8}{elapsed:>9.1f}{n / elapsed / w:>19.2f}")
    print()
    for w in (1, 2):
        overhead = seconds["course", w] / seconds["course --no-sandbox", w]
        versus_plain = seconds["nbgrader, no sandbox", w] / seconds["course", w]
        print(f"{w} worker(s): sandbox overhead {overhead:.2f}x (target <= 1.2); sandboxed "
              f"course vs plain unsandboxed nbgrader, throughput {versus_plain:.2f}x "
              "(target >= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
