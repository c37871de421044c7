"""Autograde a whole class: nbgrader's autograde per student, isolated, in parallel, then a report.

For every student this runs ``nbgrader autograde ASSIGNMENT --student S --force`` (through
nbgrader's own API) in a separate worker process with a wall-clock limit per notebook and a
memory cap, and then makes the gradebook honest about the outcome:

- a run that did not finish (kernel crash, ``os._exit``, timeout, unreadable notebook) scores 0
  for every cell; nbgrader alone would leave the previous run's grades in place;
- the static scan's flags (:mod:`.static_scan`) and the reason for a 0 become nbgrader's
  automatic comments of the answer cells, visible in formgrader and in feedback.

Every notebook runs in the bubblewrap sandbox of :mod:`.sandbox` (the course's
``nbgrader_config.py`` puts it into nbgrader's autograde steps): grading refuses to start when the
sandbox cannot be made, unless ``sandbox=False`` (``--no-sandbox``) says to grade without it.
Files a student submitted beside the notebooks, other than the data files the assignment ships,
are never visible to the notebook, and the submission is flagged "extra-files".

Nothing under ``source/``/``solutions/`` or ``submitted/`` is written; only nbgrader's
``autograded/`` output and the gradebook change, both by this process and nbgrader, never by
student code.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import NamedTuple

import nbformat
import psutil
from tqdm import tqdm

from backprop_course.course import Course
from backprop_course.isolation import IsolatedJob, JobEnd, Limits
from backprop_course.report import ClassReport, StudentResult
from backprop_course.sandbox import PidsCgroup, SandboxLimits, require_sandbox, shipped_names
from backprop_course.static_scan import Flag, ReleaseLayout, read_submission, scan_notebook
from backprop_course.worker import WorkerResult, autograde_in_worker

DEFAULT_NOTEBOOK_SECONDS = 600.0
#: Address space for a worker and its kernel. A kernel with numpy and the kit maps about
#: 1 GiB; the rest is room for the notebook's own arrays.
DEFAULT_MEMORY_BYTES = 4 * 2**30
#: A worker starts as a copy of this process; it needs this much more to run nbgrader.
MEMORY_HEADROOM = 256 * 2**20


class RunEnd(NamedTuple):
    """How one student's run ended: a report status, why, and how long it took."""

    status: str
    detail: str
    seconds: float


def grade_class(course: Course, assignment: str, *, students: Sequence[str] | None = None,
                workers: int = 1, timeout_per_notebook: float | None = DEFAULT_NOTEBOOK_SECONDS,
                memory_bytes: int | None = DEFAULT_MEMORY_BYTES,
                progress: bool = False, sandbox: bool = True) -> ClassReport:
    """Autograde the submissions of ``assignment`` and report per exercise.

    Parameters
    ----------
    course : Course
    assignment : str
        Must be in the gradebook (``nbgrader generate_assignment`` was run).
    students : sequence of str, optional
        Default: every student with a ``submitted/<student>/<assignment>`` folder.
    workers : int
        Students graded at the same time, each in its own process.
    timeout_per_notebook : float or None
        Wall-clock seconds per notebook of the assignment; a student's run over the limit is
        killed and scores 0 ("timeout"). The per-cell limit is nbgrader's ``Execute.timeout``.
    memory_bytes : int or None
        Address-space cap of each worker and its kernel.
    progress : bool
        Show a tqdm progress bar on stderr.
    sandbox : bool
        Run every kernel in the bubblewrap sandbox (:mod:`.sandbox`). False grades without
        any isolation: student code runs as this user, with this user's files.

    Raises
    ------
    SandboxUnavailable
        ``sandbox`` is true and the sandbox cannot be created here; nothing was graded.

    Returns
    -------
    ClassReport
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    needed = psutil.Process().memory_info().vms + MEMORY_HEADROOM
    if memory_bytes is not None and memory_bytes < needed:
        raise ValueError(f"memory_bytes must be at least {needed / 2**30:.2f} GiB (what a worker "
                         f"maps when it starts, plus room), got {memory_bytes / 2**30:.2f} GiB")
    if sandbox:
        require_sandbox(SandboxLimits(memory_bytes=memory_bytes))
    course = _with_sandbox(course, sandbox, memory_bytes)
    max_points = course.graded_cells(assignment)
    notebooks = course.notebook_names(assignment)
    students = list(students) if students is not None else course.submitted_students(assignment)
    flags = {s: scan_submission(course, assignment, s, notebooks) for s in students}
    submitted = [s for s in students if course.path("submitted", assignment, s).is_dir()]
    seconds = None if timeout_per_notebook is None else timeout_per_notebook * len(notebooks)
    ends = _run_all(course, assignment, submitted, workers, Limits(seconds, memory_bytes),
                    progress, on_end=lambda student, result: _record(
                        course, assignment, student, notebooks, result, flags[student]))
    table = course.score_table(assignment)
    rows = []
    for student in sorted(students):
        status, detail, elapsed = ends.get(student, RunEnd("missing", "nothing submitted", 0.0))
        scores = table.get(student, {}) if status != "missing" else {}
        found = [flag for per_notebook in flags[student].values() for flag in per_notebook]
        rows.append(StudentResult(student, status, scores, found, detail, elapsed))
    return ClassReport(assignment, max_points, rows)


def _with_sandbox(course: Course, sandbox: bool, memory_bytes: int | None) -> Course:
    """The course with its kernels sandboxed (memory cap ``memory_bytes``), or not at all."""
    config = copy.deepcopy(course.config)
    config.SandboxedExecute.sandbox = sandbox
    config.SandboxedKernelManager.memory_bytes = memory_bytes
    return Course(course.root, config)


def scan_submission(course: Course, assignment: str, student: str,
                    notebooks: Sequence[str]) -> dict[str, list[Flag]]:
    """Static-scan flags (see :mod:`.static_scan`) of a student's submission.

    Returns
    -------
    dict
        notebook name -> its flags, for every notebook of the assignment; a notebook that is
        not part of the assignment appears under its own file name.
    """
    folder = course.path("submitted", assignment, student)
    if not folder.is_dir():
        return {}
    flags = {path.name: [Flag(path.name, "unknown-notebook",
                              "not part of this assignment; not graded")]
             for path in sorted(folder.glob("*.ipynb")) if path.stem not in notebooks}
    extra = extra_files(course, assignment, student)
    if extra:
        flags["extra files"] = [Flag(", ".join(extra), "extra-files", "not part of the assignment; "
                                     "the sandbox hides them from the notebooks")]
    for name in notebooks:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            flags[name] = [Flag(path.name, "missing-notebook", "not submitted; scores 0")]
            continue
        nb, unreadable = read_submission(path)
        if unreadable is not None:
            flags[name] = [unreadable]
            continue
        release = course.path("release", assignment) / f"{name}.ipynb"
        layout = ReleaseLayout.of(nbformat.read(release, as_version=4)) \
            if release.is_file() else None
        flags[name] = scan_notebook(nb, layout)
    return flags


#: Files nbgrader's own ``submit`` adds to every submission.
NBGRADER_SUBMISSION_FILES = frozenset({"timestamp.txt", "submission_secret.txt"})


def extra_files(course: Course, assignment: str, student: str) -> list[str]:
    """Files of a submission that are neither notebooks, files nbgrader's ``submit`` adds
    (:data:`NBGRADER_SUBMISSION_FILES`), nor files the assignment's release ships (paths
    relative to the submission folder)."""
    folder = course.path("submitted", assignment, student)
    release = course.path("release", assignment)
    shipped = set(shipped_names(release, [])) if release.is_dir() else set()
    return [name for name in shipped_names(folder, [])
            if name not in NBGRADER_SUBMISSION_FILES and name not in shipped]


def _run_all(course: Course, assignment: str, students: list[str], workers: int,
             limits: Limits, progress: bool,
             on_end: Callable[[str, RunEnd], None]) -> dict[str, RunEnd]:
    """Run every student's autograde, ``workers`` at a time; ``on_end`` hears of each end.

    If anything goes wrong here (Ctrl-C included), the workers still running are killed with
    their kernels.
    """
    queue = deque(students)
    running: dict[int, tuple[str, IsolatedJob, Path]] = {}
    ends: dict[str, RunEnd] = {}
    try:
        with tqdm(total=len(students), unit="student", disable=not progress,
                  desc=f"autograde {assignment}") as bar:
            while queue or running:
                while queue and len(running) < workers:
                    student = queue.popleft()
                    scratch = Path(tempfile.mkdtemp(prefix="bk-grade-"))
                    job = IsolatedJob(autograde_in_worker, (course.config, assignment, student,
                                                            str(scratch / "kernel")),
                                      limits, scratch / "worker-output.log")
                    job.start()
                    running[job.sentinel] = (student, job, scratch)
                lefts = [left for _, job, _ in running.values()
                         if (left := job.seconds_left()) is not None]
                ready = set(wait(list(running), timeout=max(0.0, min(lefts)) if lefts else None))
                for sentinel in list(running):
                    student, job, scratch = running[sentinel]
                    if sentinel in ready:
                        end = job.collect()
                    elif job.overdue():
                        end = job.kill()
                    else:
                        continue
                    del running[sentinel]
                    PidsCgroup.remove_left_by(job.pid)  # a killed worker could not close them
                    shutil.rmtree(scratch, ignore_errors=True)
                    ends[student] = _run_end(end)
                    on_end(student, ends[student])
                    bar.set_postfix_str(f"{student}: {ends[student].status}")
                    bar.update()
    finally:
        for _, job, scratch in running.values():
            job.kill()
            PidsCgroup.remove_left_by(job.pid)
            shutil.rmtree(scratch, ignore_errors=True)
    return ends


def _run_end(end: JobEnd) -> RunEnd:
    if end.status == "returned":
        result: WorkerResult = end.value
        return RunEnd(result.outcome, result.error, end.seconds)
    if end.status == "timeout":
        return RunEnd("timeout", f"over the time limit: {end.detail}", end.seconds)
    if end.status == "raised":
        return RunEnd("failed", end.detail.strip().splitlines()[-1], end.seconds)
    return RunEnd("crashed", f"the grading process died ({end.detail})", end.seconds)


def _record(course: Course, assignment: str, student: str, notebooks: Sequence[str],
            end: RunEnd, flags: dict[str, list[Flag]]) -> None:
    """Make the gradebook tell the truth about one finished run."""
    graded = end.status == "graded"
    if not graded:
        course.zero_submission(assignment, student)
    strays = [flag for key, found in flags.items() if key not in notebooks for flag in found]
    for index, name in enumerate(notebooks):
        notes: dict[str | None, list[str]] = {}
        if not graded:
            notes[None] = [f"Autograding did not finish ({end.status}: {end.detail}); every "
                           "cell of this notebook scores 0."]
        for flag in flags.get(name, []) + (strays if index == 0 else []):
            notes.setdefault(flag.where, []).append(f"Flagged for review: {flag}")
        course.write_auto_comments(assignment, student, name, notes, keep_existing=graded)
