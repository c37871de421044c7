"""Autograde a whole class: nbgrader's autograde per student, isolated, in parallel or on a Dask
cluster, one gradebook writer, then a report.

Every student is graded from bytes by the same code (:mod:`.worker`): the assignment's source
and the student's submitted folder are packed (:mod:`.bundles`), graded in a temporary course in
a forked process with a wall-clock limit and a memory cap (the student's code in the bubblewrap
sandbox of :mod:`.sandbox`), and the result comes back as plain data. Where that happens:

- ``workers=N`` (``--workers N``): N forked processes on this machine;
- ``cluster=...`` (``--cluster tcp://HOST:PORT`` or ``local:N``): one Dask task per student
  (:mod:`.cluster`).

This process alone then records each outcome, once: it writes ``autograded/`` and ``feedback/``
and the gradebook (SQLite or PostgreSQL, through nbgrader's API), and makes the gradebook honest
about the outcome:

- a run that did not finish (the grading process died, timeout, unreadable notebook) scores 0
  for every cell; nbgrader alone would leave the previous run's grades in place;
- the static scan's flags (:mod:`.static_scan`) and the reason for a 0 become nbgrader's
  automatic comments of the answer cells, visible in formgrader and in feedback.

Grading refuses to start when the sandbox cannot be made (here, or on any Dask worker), unless
``sandbox=False`` (``--no-sandbox``) says to grade without it. Files a student submitted beside
the notebooks, other than the data files the assignment ships, are never visible to the
notebook, and the submission is flagged "extra-files".

Resuming: after each student, the hashes of the graded submission and assignment go into the
course's :mod:`.manifest`; with ``skip_graded=True`` (the command's default; ``--force`` turns
it off) a student whose submission and assignment are unchanged, and whose grades the gradebook
still holds, is not graded again.

Nothing under ``source/``/``solutions/`` or ``submitted/`` is written.
"""

from __future__ import annotations

import copy
import gc
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from multiprocessing.connection import wait
from pathlib import Path

import nbformat
from nbgrader.utils import parse_utc
from tqdm import tqdm

from backprop_course.bundles import AssignmentBundle, GradingOutcome, SubmissionBundle
from backprop_course.course import Course
from backprop_course.isolation import Limits
from backprop_course.manifest import MANIFEST_NAME, GradingManifest, ManifestEntry
from backprop_course.report import ClassReport, StudentResult
from backprop_course.sandbox import SandboxLimits, require_sandbox
from backprop_course.worker import (  # noqa: F401  (scan_submission, extra_files: public here too)
    MEMORY_HEADROOM,
    NBGRADER_SUBMISSION_FILES,
    StudentJob,
    cell_failures,
    check_memory,
    extra_files,
    review_notes,
    scan_submission,
    template_course,
    warm_up,
)

DEFAULT_NOTEBOOK_SECONDS = 600.0
#: Address space for a worker and the student's process. A process with numpy and the kit maps about
#: 1 GiB; the rest is room for the notebook's own arrays.
DEFAULT_MEMORY_BYTES = 4 * 2**30


def grade_class(course: Course, assignment: str, *, students: Sequence[str] | None = None,
                workers: int = 1, timeout_per_notebook: float | None = DEFAULT_NOTEBOOK_SECONDS,
                memory_bytes: int | None = DEFAULT_MEMORY_BYTES,
                progress: bool = False, sandbox: bool = True, cluster: str | None = None,
                skip_graded: bool = False, feedback: bool = True) -> ClassReport:
    """Autograde the submissions of ``assignment`` and report per exercise.

    Parameters
    ----------
    course : Course
    assignment : str
        Must be in the gradebook (``nbgrader generate_assignment`` was run).
    students : sequence of str, optional
        Default: every student with a ``submitted/<student>/<assignment>`` folder.
    workers : int
        Students graded at the same time on this machine, each in its own process (ignored
        with ``cluster``, must then stay 1).
    timeout_per_notebook : float or None
        Wall-clock seconds per notebook of the assignment; a student's run over the limit is
        killed and scores 0 ("timeout"). The per-cell limit is nbgrader's ``Execute.timeout``.
        Making the feedback gets :data:`~backprop_course.worker.FEEDBACK_SECONDS` more.
    memory_bytes : int or None
        Address-space cap of each worker and the student's process.
    progress : bool
        Show a tqdm progress bar (with its ETA) on stderr.
    sandbox : bool
        Run the student's code in the bubblewrap sandbox (:mod:`.sandbox`). False grades without
        any isolation: student code runs as the grading user, with that user's files.
    cluster : str, optional
        Grade on Dask: a scheduler address (``tcp://HOST:PORT``) or ``local:N`` (a local
        cluster of N single-threaded worker processes). See :mod:`.cluster`.
    skip_graded : bool
        Do not grade again a student whose submission and assignment are unchanged since they
        were last recorded in this gradebook (:mod:`.manifest`).
    feedback : bool
        Make each graded student's feedback HTML as well (nbgrader's ``generate_feedback`` with
        the course's sanitised configuration, in the student's grading process). False grades
        only: a graded student's earlier feedback is removed (it would describe an earlier run),
        and ``nbgrader generate_feedback`` makes it later, e.g. after manual grading.

    Raises
    ------
    SandboxUnavailable
        ``sandbox`` is true and the sandbox cannot be created here (or on a Dask worker);
        nothing was graded.
    WorkerNotUsable
        A Dask worker cannot grade (:mod:`.cluster`).

    Returns
    -------
    ClassReport
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if cluster is not None and workers != 1:
        raise ValueError("workers is for grading on this machine; with cluster the Dask "
                         "workers grade (local:N for N of them here)")
    spec = None
    if cluster is not None:
        from backprop_course.cluster import parse_cluster  # Dask only when asked for
        spec = parse_cluster(cluster)
    else:
        check_memory(memory_bytes)
    course = _with_sandbox(course, sandbox, memory_bytes)
    if spec is None:
        from backprop_course.trusted.executor import zygote_address

        # The zygote imports (about 0.6 s) while this process gets ready to grade; the first
        # run waits for it. A run of nothing to grade stops it unused when this process ends.
        zygote_address(course.config, wait=False)
        if sandbox:
            require_sandbox(SandboxLimits(memory_bytes=memory_bytes))
    max_points = course.graded_cells(assignment)
    notebooks = course.notebook_names(assignment)
    students = list(dict.fromkeys(students)) if students is not None \
        else course.submitted_students(assignment)
    submitted = [s for s in students if course.path("submitted", assignment, s).is_dir()]
    bundle = AssignmentBundle.of(course, assignment)
    submissions = {s: SubmissionBundle.read(course.path("submitted", assignment, s), s)
                   for s in submitted}
    manifest = GradingManifest(course.root / MANIFEST_NAME, course.db_url)
    table = course.score_table(assignment)
    reused = {}
    for student in submitted:
        entry = manifest.get(assignment, student)
        if skip_graded and entry is not None and _unchanged(
                course, assignment, student, entry, bundle, submissions[student], table):
            reused[student] = entry
    todo = [submissions[s] for s in submitted if s not in reused]
    outcomes: dict[str, GradingOutcome] = {}
    limits = Limits(None if timeout_per_notebook is None
                    else timeout_per_notebook * len(notebooks), memory_bytes)
    with tqdm(total=len(todo), unit="student", disable=not progress, dynamic_ncols=True,
              desc=f"grade {assignment}" + (f" on {spec}" if spec else "")) as bar:
        if reused and progress:
            bar.write(f"{len(reused)} student(s) unchanged since they were graded: not graded "
                      "again (--force grades them again)")

        def on_outcome(outcome: GradingOutcome) -> None:
            if outcome.student in outcomes:
                return  # never record a student twice
            _record(course, assignment, notebooks, outcome)
            if outcome.status != "error":
                manifest.put(assignment, outcome.student, ManifestEntry(
                    submissions[outcome.student].digest, bundle.digest, outcome.status,
                    outcome.detail, outcome.seconds, outcome.flags))
            outcomes[outcome.student] = outcome
            bar.set_postfix_str(f"{outcome.student}: {outcome.status}", refresh=False)
            bar.update()

        if spec is None:
            if todo:
                # each student's run is forked from here
                warm_up(course.config if feedback else None)
                try:
                    with template_course(bundle) as template:
                        _run_locally(template, bundle, todo, workers, limits, on_outcome,
                                     feedback)
                finally:
                    gc.unfreeze()  # what warm_up froze can be collected again
        elif todo:
            from backprop_course.cluster import check_workers, connect, run_on_cluster
            with connect(spec) as client:
                check_workers(client, sandbox, memory_bytes)
                run_on_cluster(client, bundle, todo, limits, on_outcome, feedback)
    table = course.score_table(assignment)
    rows = [_row(course, assignment, student, table, outcomes.get(student), reused.get(student),
                 notebooks) for student in sorted(students)]
    return ClassReport(assignment, max_points, rows)


def _with_sandbox(course: Course, sandbox: bool, memory_bytes: int | None) -> Course:
    """The course with the student's code sandboxed (memory cap ``memory_bytes``), or not at all."""
    config = copy.deepcopy(course.config)
    config.TrustedExecute.sandbox = sandbox
    config.TrustedExecute.memory_bytes = memory_bytes
    return Course(course.root, config)


def _unchanged(course: Course, assignment: str, student: str, entry: ManifestEntry,
               bundle: AssignmentBundle, submission: SubmissionBundle,
               table: dict[str, dict[str, float]]) -> bool:
    """The manifest's entry is for these very bytes, and the gradebook still holds them."""
    return (entry.submission_sha256 == submission.digest
            and entry.assignment_sha256 == bundle.digest and student in table
            and (entry.status != "graded"
                 or course.path("autograded", assignment, student).is_dir()))


def _run_locally(template: Path, bundle: AssignmentBundle, submissions: list[SubmissionBundle],
                 workers: int, limits: Limits,
                 on_outcome: Callable[[GradingOutcome], None], feedback: bool = True) -> None:
    """Grade ``submissions``, ``workers`` at a time, each a :class:`StudentJob` (the code a
    Dask task runs; ``feedback``: it makes the feedback too); ``on_outcome`` hears of each
    end.

    If anything goes wrong here (Ctrl-C included), the runs still going are killed with their
    sandboxed processes.
    """
    queue = deque(submissions)
    running: dict[int, StudentJob] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                job = StudentJob(template, bundle, queue.popleft(), limits, feedback)
                try:
                    job.start()
                except BaseException:
                    job.abort()
                    raise
                running[job.sentinel] = job
            lefts = [left for job in running.values() if (left := job.seconds_left()) is not None]
            ready = set(wait(list(running), timeout=max(0.0, min(lefts)) if lefts else None))
            for sentinel, job in list(running.items()):
                if sentinel in ready or job.overdue():
                    del running[sentinel]
                    on_outcome(job.finish(sentinel in ready))
    finally:
        for job in running.values():
            job.abort()


def _record(course: Course, assignment: str, notebooks: Sequence[str],
            outcome: GradingOutcome) -> None:
    """Write one outcome into the course: files, gradebook, comments (this process only).

    Raises
    ------
    RuntimeError
        The gradebook, scoring the returned notebooks, disagrees with the worker's scores
        (the worker's course differs from this one: nothing of this student is kept as is).
    """
    student = outcome.student
    if outcome.status == "error":
        return  # the grading machinery failed: nothing is known about this submission
    graded = outcome.status == "graded"
    if graded:
        timestamp = _timestamp(course.path("submitted", assignment, student))
        recorded = course.record_autograded(assignment, student, outcome.autograded,
                                            outcome.feedback, timestamp)
        if recorded != outcome.scores:
            course.zero_submission(assignment, student)
            raise RuntimeError(f"{student}: the worker scored {outcome.scores}, its notebooks "
                               f"score {recorded} in {course.db_url}; the worker's course "
                               "differs from this one (nbgrader version, configuration?)")
    else:
        course.zero_submission(assignment, student)
    for name, notes in review_notes(outcome.status, outcome.detail, outcome.flags,
                                    notebooks).items():
        course.write_auto_comments(assignment, student, name, notes, keep_existing=graded)


def _timestamp(folder: Path) -> datetime | None:
    """The submission's ``timestamp.txt`` as nbgrader reads it (None if absent or empty)."""
    path = folder / "timestamp.txt"
    text = path.read_text().strip() if path.is_file() else ""
    return parse_utc(text) if text else None


def _row(course: Course, assignment: str, student: str, table: dict[str, dict[str, float]],
         outcome: GradingOutcome | None, entry: ManifestEntry | None,
         notebooks: Sequence[str]) -> StudentResult:
    """The report's row of one student, from this run's outcome or the manifest's entry."""
    if outcome is None and entry is None:
        return StudentResult(student, "missing", {}, [], "nothing submitted", 0.0)
    if outcome is not None:
        status, detail, seconds, flags = (outcome.status, outcome.detail, outcome.seconds,
                                          outcome.flags)
        failures = {gid: cell.failures for gid, cell in outcome.cells.items()}
    else:
        status, detail, seconds, flags = entry.status, entry.detail, entry.seconds, entry.flags
        failures = {}
        autograded = course.path("autograded", assignment, student)
        for name in notebooks if status == "graded" else ():
            path = autograded / f"{name}.ipynb"
            if path.is_file():
                failures.update(cell_failures(nbformat.read(path, as_version=4)))
    scores = {} if status == "error" else table.get(student, {})
    found = [flag for per_notebook in flags.values() for flag in per_notebook]
    return StudentResult(student, status, scores, found, detail, seconds, failures=failures,
                         reused=outcome is None, worker=outcome.worker if outcome else "")

