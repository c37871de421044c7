"""Grade one student from bytes: the worker side of every grading mode.

``backprop-course grade`` on one machine (``--workers N``) and on a Dask cluster (``--cluster``)
grade each student the same way:

1. :class:`StudentJob` copies a *template* course (the assignment generated from its bundled
   source, with its own SQLite gradebook: :func:`prepare_template`) into a scratch folder,
   writes the student's submitted bytes into it and runs the static scan (:func:`scan_submission`);
2. a forked process (:mod:`.isolation`: wall-clock limit, memory cap, killed with its whole
   process tree) runs nbgrader's autograde there, the student's code in the sandbox
   (:mod:`.sandbox`, :mod:`.trusted`), writes the review notes into the scratch gradebook and
   generates the feedback (:func:`grade_prepared`);
3. the answer is a :class:`~backprop_course.bundles.GradingOutcome`: plain data (scores,
   per-cell failures, flags, the autograded folder and the feedback as bytes). The scratch
   folder is removed. Only the coordinator writes the real gradebook and files.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import ctypes
import gc
import importlib
import os
import pickle
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from pathlib import Path

import nbformat
import psutil
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from traitlets.config import Config

from backprop_course.bundles import (
    AssignmentBundle,
    CellResult,
    GradingOutcome,
    SubmissionBundle,
    empty_gradebook,
    read_folder,
    write_folder,
)
from backprop_course.course import Course
from backprop_course.isolation import IsolatedJob, JobEnd, Limits
from backprop_course.sandbox import PidsCgroup, SandboxLimits, require_sandbox_once, shipped_names
from backprop_course.static_scan import Flag, ReleaseLayout, read_submission, scan_notebook

#: Thread pools of numpy's BLAS while grading: one thread each, so that N workers use N cores.
SINGLE_THREADED = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*)$",
                         re.MULTILINE)
#: A worker starts as a copy of the process that forks it; it needs this much more to run
#: nbgrader.
MEMORY_HEADROOM = 256 * 2**20
#: Wall-clock seconds a run gets, beyond its autograde limit, to write the feedback.
FEEDBACK_SECONDS = 60.0
#: Written in the scratch folder once autograde has finished: the feedback time starts.
AUTOGRADED_MARK = "autograded.done"
#: Files nbgrader's own ``submit`` adds to every submission.
NBGRADER_SUBMISSION_FILES = frozenset({"timestamp.txt", "submission_secret.txt"})
_RUBRIC_FAILURE = re.compile(r"\[FAILED\] (.*?)(?=\s{2}\[(?:ok|FAILED)\] |\s*$)", re.DOTALL)
#: Longest failure line kept (they are counted and shown to the instructor, not stored whole).
FAILURE_CHARS = 300


@dataclass(frozen=True)
class WorkerResult:
    """What nbgrader said about one student's run.

    Attributes
    ----------
    success : bool
        nbgrader autograded every notebook.
    outcome : str
        "graded", or "failed" (nbgrader could not process the submission). A cell that timed
        out or whose process died fails on its own; the process that runs out of its time
        limit is the forked grading process, judged by :class:`StudentJob`.
    error : str
        The last exception line of nbgrader's log ("" on success).
    """

    success: bool
    outcome: str
    error: str


def autograde_in_worker(config: Config, assignment: str, student: str) -> WorkerResult:
    """Autograde ``student``'s submission of ``assignment`` with the course configuration
    ``config`` (:func:`course_config`), numpy's BLAS single-threaded."""
    for name in SINGLE_THREADED:
        os.environ.setdefault(name, "1")
    result = Course(config.CourseDirectory.root, config).autograde(assignment, student)
    return classify(bool(result.get("success")),
                    f"{result.get('log') or ''}\n{result.get('error') or ''}")


def classify(success: bool, log: str) -> WorkerResult:
    """Turn nbgrader's success flag and log into a :class:`WorkerResult`."""
    if success:
        return WorkerResult(True, "graded", "")
    errors = [line for line in (m.group(1).strip() for m in _ERROR_LINE.finditer(log))
              if not line.startswith("nbgrader.converters.base.NbGraderException")]
    return WorkerResult(False, "failed", errors[-1] if errors else "see nbgrader's log")


def check_memory(memory_bytes: int | None) -> None:
    """Raise ValueError when a process forked from this one could not run under
    ``memory_bytes`` of address space."""
    needed = psutil.Process().memory_info().vms + MEMORY_HEADROOM
    if memory_bytes is not None and memory_bytes < needed:
        raise ValueError(f"memory_bytes must be at least {needed / 2**30:.2f} GiB (what a worker "
                         f"maps when it starts, plus room), got {memory_bytes / 2**30:.2f} GiB")


def ensure_sandbox(memory_bytes: int | None) -> None:
    """:func:`~backprop_course.sandbox.require_sandbox`, once per process and memory cap."""
    require_sandbox_once(SandboxLimits(memory_bytes=memory_bytes))


#: What a grading run imports besides the trusted side's modules: nbgrader's autograde step
#: and the libraries it loads on first use.
WARM_MODULES = ("nbgrader.converters", "nbgrader.preprocessors",
                "backprop_course.trusted.executor")
#: What making the feedback imports besides.
WARM_FEEDBACK_MODULES = ("nbconvert.exporters.html", "nbconvert.filters.markdown_mistune",
                         "nbconvert.preprocessors.sanitize",
                         "nbconvert.preprocessors.csshtmlheader", "bleach", "bs4", "soupsieve",
                         "pygments.formatters.html", "IPython.lib.lexers",
                         "backprop_course.feedback")


def warm_up(feedback_config: Config | None = None) -> None:
    """Prepare this process to fork grading runs: import what every run needs
    (:data:`WARM_MODULES`, :func:`~backprop_course.trusted.trusted_shell.warm_imports`) and,
    for runs that make feedback with ``feedback_config`` (the course's configuration),
    :data:`WARM_FEEDBACK_MODULES` and the feedback's compiled templates
    (:func:`~backprop_course.feedback.compile_feedback_templates`). Only libraries and the
    course's own packages run here, never a submission. numpy's BLAS is loaded single-threaded
    (:data:`SINGLE_THREADED`), as every run sets it. Ends with ``gc.freeze()``: the caller
    calls ``gc.unfreeze()`` once it has forked its last run."""
    for name in SINGLE_THREADED:
        os.environ.setdefault(name, "1")
    from backprop_course.trusted.trusted_shell import warm_imports

    warm_imports()
    feedback = feedback_config is not None
    for name in WARM_MODULES + (WARM_FEEDBACK_MODULES if feedback else ()):
        try:
            importlib.import_module(name)
        except Exception:  # optional: the run imports what it needs itself
            pass
    if feedback:
        try:
            from backprop_course.feedback import compile_feedback_templates

            compile_feedback_templates(feedback_config)
        except Exception:  # the run compiles what it needs itself
            pass
    # Every object so far out of the garbage collector's reach until ``gc.unfreeze()``: a forked
    # run's collections then skip this process's libraries (hundreds of thousands of objects,
    # 0.2 s a full collection here) and leave their memory pages shared (the use the gc.freeze
    # documentation describes).
    gc.freeze()


# --- the static scan -------------------------------------------------------------------------

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


def extra_files(course: Course, assignment: str, student: str) -> list[str]:
    """Files of a submission that are neither notebooks, files nbgrader's ``submit`` adds
    (:data:`NBGRADER_SUBMISSION_FILES`), nor files the assignment's release ships (paths
    relative to the submission folder)."""
    folder = course.path("submitted", assignment, student)
    release = course.path("release", assignment)
    shipped = set(shipped_names(release, [])) if release.is_dir() else set()
    return [name for name in shipped_names(folder, [])
            if name not in NBGRADER_SUBMISSION_FILES and name not in shipped]


def review_notes(status: str, detail: str, flags: dict[str, list[Flag]],
                 notebooks: Sequence[str]) -> dict[str, dict[str | None, list[str]]]:
    """The automatic comments a run adds: notebook -> {answer cell (or None) -> lines}.

    A run that did not finish says so in every notebook; each flag goes to its notebook (flags
    about files outside the assignment's notebooks go to the first notebook).
    """
    strays = [flag for key, found in flags.items() if key not in notebooks for flag in found]
    notes: dict[str, dict[str | None, list[str]]] = {}
    for index, name in enumerate(notebooks):
        per_cell: dict[str | None, list[str]] = {}
        if status != "graded":
            per_cell[None] = [f"Autograding did not finish ({status}: {detail}); every "
                              "cell of this notebook scores 0."]
        for flag in flags.get(name, []) + (strays if index == 0 else []):
            per_cell.setdefault(flag.where, []).append(f"Flagged for review: {flag}")
        notes[name] = per_cell
    return notes


def cell_failures(notebook: NotebookNode) -> dict[str, tuple[str, ...]]:
    """grade_id -> failure lines of every graded code cell of an autograded notebook.

    A line is ``ExceptionType: first line of the message`` of an error output, or one
    ``[FAILED] part (points): why`` of a rubric summary printed to stdout
    (:class:`backprop_grading.Rubric`), each cut to :data:`FAILURE_CHARS`. Student-controlled
    text: escape it before showing it anywhere.
    """
    found: dict[str, tuple[str, ...]] = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("grade") or not meta.get("grade_id"):
            continue
        lines = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                message = str(output.get("evalue", "")).strip().splitlines()
                lines.append(f"{output.get('ename', 'Error')}: {message[0] if message else ''}")
            elif output.get("output_type") == "stream" and output.get("name") == "stdout":
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else str(text)
                lines += [match.group(1).strip().splitlines()[0]
                          for match in _RUBRIC_FAILURE.finditer(text) if match.group(1).strip()]
        found[meta["grade_id"]] = tuple(line[:FAILURE_CHARS] for line in lines)
    return found


# --- the template course ---------------------------------------------------------------------

class GradingSetupError(RuntimeError):
    """Grading cannot start or go on anywhere (not one student's problem): the message says
    what to fix."""


class TemplateMismatch(GradingSetupError):
    """The assignment generated from the bundled source differs from the coordinator's
    gradebook: scores would not mean the same thing."""


def config_at(config: Config, root: str | os.PathLike) -> Config:
    """A copy of ``config`` for a course at ``root`` with its own SQLite gradebook there."""
    config = copy.deepcopy(config)
    root = Path(root).resolve()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.Exchange.root = str(root / "exchange")
    return config


def prepare_template(bundle: AssignmentBundle, folder: str | os.PathLike) -> Path:
    """Generate ``bundle``'s assignment in a new course under ``folder`` (made if missing).

    The course holds the source, the release and a SQLite gradebook that knows the
    assignment (with the coordinator's due date). Student code never runs here.

    Returns
    -------
    Path
        The course root, to copy for each student (:class:`StudentJob`).

    Raises
    ------
    TemplateMismatch
        The generated cells' checksums are not those of the coordinator's gradebook.
    """
    root = Path(folder) / "course"
    root.mkdir(parents=True)
    (root / "gradebook.db").write_bytes(bundle.empty_gradebook or empty_gradebook())
    course = Course(root, config_at(bundle.config, root))
    write_folder(course.path("source", bundle.assignment), bundle.source_files)
    course.generate(bundle.assignment)
    with Gradebook(course.db_url) as gb:
        assignment = gb.find_assignment(bundle.assignment)
        if bundle.duedate is not None:
            assignment.duedate = bundle.duedate
            gb.db.commit()
        checksums = {nb.name: {cell.name: cell.checksum for cell in nb.source_cells}
                     for nb in assignment.notebooks}
    if checksums != bundle.cell_checksums:
        raise TemplateMismatch(
            f"the gradebook's copy of {bundle.assignment!r} differs from its source folder "
            f"(notebooks or cells changed since `nbgrader generate_assignment "
            f"{bundle.assignment}`); regenerate it, or grading would not match the gradebook")
    return root


@contextlib.contextmanager
def template_course(bundle: AssignmentBundle) -> Iterator[Path]:
    """:func:`prepare_template` in a temporary folder, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="bk-template-") as folder:
        yield prepare_template(bundle, folder)


_templates: dict[tuple[str, str], Path] = {}
_templates_lock = threading.Lock()


def cached_template(bundle: AssignmentBundle) -> Path:
    """The template of ``bundle`` for this process, made on first use and kept (a long-lived
    Dask worker grades many students of one assignment); removed when the process exits."""
    key = (bundle.digest, repr(sorted(_flatten(bundle.config))))
    with _templates_lock:
        if not _templates:
            _remove_templates_of_ended_processes()
        if key not in _templates or not _templates[key].is_dir():
            folder = tempfile.mkdtemp(prefix=f"bk-template-{os.getpid()}-")
            try:
                _templates[key] = prepare_template(bundle, folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            atexit.register(shutil.rmtree, folder, True)
        return _templates[key]


def _remove_templates_of_ended_processes() -> None:
    """Remove the templates that ended processes left behind (a Dask worker stopped by a
    signal does not run its exit handlers); their folder names carry the process id."""
    for folder in Path(tempfile.gettempdir()).glob("bk-template-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _flatten(config: Config, prefix: str = "") -> list[tuple[str, str]]:
    items = []
    for key, value in config.items():
        if isinstance(value, Config):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", repr(value)))
    return items


# --- one student -----------------------------------------------------------------------------

class StudentJob:
    """One student's run: scratch course, static scan, forked autograde, outcome.

    Use :meth:`start`, wait on :attr:`sentinel` (``multiprocessing.connection.wait``) for at
    most :meth:`seconds_left`, and call :meth:`finish` once it is ready or :meth:`overdue`.
    :func:`grade_student` does all of this for one student; the local grading loop keeps
    several running.

    Parameters
    ----------
    template : Path
        From :func:`prepare_template` (of ``bundle``).
    bundle : AssignmentBundle
    submission : SubmissionBundle
    limits : Limits
        ``seconds`` for autograding the whole submission (None: no limit; the feedback gets
        :data:`FEEDBACK_SECONDS` more), ``memory_bytes`` for the forked process and its kernels.
    feedback : bool
        Also make the feedback HTML (nbgrader's ``generate_feedback``, the course's sanitised
        configuration). False: the outcome has none.
    """

    def __init__(self, template: Path, bundle: AssignmentBundle, submission: SubmissionBundle,
                 limits: Limits, feedback: bool = True) -> None:
        self.template = Path(template)
        self.bundle = bundle
        self.submission = submission
        self.limits = limits
        self.feedback = feedback
        self.flags: dict[str, list[Flag]] = {}
        self.scratch: Path | None = None
        self._job: IsolatedJob | None = None
        self._ended = False
        self._started = 0.0

    @property
    def student(self) -> str:
        return self.submission.student

    def start(self) -> None:
        """Lay out the scratch course, scan the submission and fork the autograde."""
        self._started = time.monotonic()
        self.scratch = Path(tempfile.mkdtemp(prefix="bk-grade-"))
        root = self.scratch / "course"
        shutil.copytree(self.template, root)
        config = config_at(self.bundle.config, root)
        course = Course(root, config)
        assignment, student = self.bundle.assignment, self.student
        write_folder(course.path("submitted", assignment, student), self.submission.files)
        notebooks = sorted(self.bundle.cell_checksums)
        self.flags = scan_submission(course, assignment, student, notebooks)
        from backprop_course.trusted.executor import zygote_address

        zygote_address(config)  # started here, once, and shared by every run forked from here
        self._job = IsolatedJob(_grade_into_file, (config, assignment, student, self.flags,
                                                    str(self.scratch), os.getpid(),
                                                    self.feedback),
                                Limits(None, self.limits.memory_bytes),
                                self.scratch / "worker-output.log")
        self._job.start()

    @property
    def sentinel(self) -> int:
        """Becomes ready when the forked process exits."""
        return self._job.sentinel

    def seconds_left(self) -> float | None:
        """Until the run is overdue: its autograde limit, plus the feedback time once
        autograding has finished. None when there is no limit."""
        if self.limits.seconds is None:
            return None
        budget = self.limits.seconds
        if self.scratch is not None and (self.scratch / AUTOGRADED_MARK).exists():
            budget += FEEDBACK_SECONDS
        return budget - (time.monotonic() - self._started)

    def overdue(self) -> bool:
        left = self.seconds_left()
        return left is not None and left <= 0

    def finish(self, ready: bool) -> GradingOutcome:
        """Collect the outcome (``ready``: the process has exited) or kill the run (overdue),
        then remove the scratch course and any cgroup the run left."""
        try:
            end = self._job.collect() if ready else self._job.kill()
            self._ended = True
            return self._outcome(end)
        finally:
            self.abort()

    def abort(self) -> None:
        """Kill the run if it is still going; remove what it left. Safe to call twice."""
        if self._job is not None and self._job.pid is not None:
            if not self._ended:
                self._job.kill()
                self._ended = True
            PidsCgroup.remove_left_by(self._job.pid)  # a killed run could not close them
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def _outcome(self, end: JobEnd) -> GradingOutcome:
        seconds = time.monotonic() - self._started
        if end.status == "returned":
            with open(end.value, "rb") as stream:  # written by this run's forked process
                return replace(pickle.load(stream), seconds=seconds)
        if end.status == "timeout":
            status, detail = "timeout", f"over the time limit: {end.detail}"
        elif end.status == "raised":
            status, detail = "failed", end.detail.strip().splitlines()[-1]
        else:
            status, detail = "crashed", f"the grading process died ({end.detail})"
        return GradingOutcome(self.student, status, detail, seconds, flags=self.flags)


def grade_student(template: Path, bundle: AssignmentBundle, submission: SubmissionBundle,
                  limits: Limits, feedback: bool = True) -> GradingOutcome:
    """Grade one student from bytes and wait for the outcome (see :class:`StudentJob`)."""
    job = StudentJob(template, bundle, submission, limits, feedback)
    try:
        job.start()
        while True:
            left = job.seconds_left()
            ready = wait([job.sentinel], timeout=None if left is None else max(0.0, left))
            if ready or job.overdue():
                return job.finish(bool(ready))
    finally:
        job.abort()


#: Where the forked process leaves its outcome, in the run's scratch folder (the sandbox does
#: not see that folder). A pipe would deadlock: the parent reads only after the process exits,
#: and an outcome with feedback HTML is larger than a pipe's buffer.
OUTCOME_FILE = "outcome.pickle"


def _grade_into_file(config: Config, assignment: str, student: str,
                     flags: dict[str, list[Flag]], scratch: str, parent: int,
                     feedback: bool) -> str:
    """:func:`grade_prepared`, its outcome pickled into the scratch folder; returns the path."""
    outcome = grade_prepared(config, assignment, student, flags, scratch, parent, feedback)
    path = os.path.join(scratch, OUTCOME_FILE)
    with open(path, "wb") as stream:
        pickle.dump(outcome, stream, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def grade_prepared(config: Config, assignment: str, student: str,
                   flags: dict[str, list[Flag]], scratch: str, parent: int,
                   feedback: bool = True) -> GradingOutcome:
    """In the forked process: autograde the scratch course, note the flags, make feedback
    (unless ``feedback`` is false).

    Parameters
    ----------
    config : Config
        The scratch course's configuration (:func:`config_at`).
    flags : dict
        The static scan's flags, written as automatic comments before the feedback is made.
    scratch : str
        The run's scratch folder.
    parent : int
        Process id of the process that forked this one: this process ends with it.
    feedback : bool
        Make the feedback; False leaves the outcome without any.
    """
    _die_with(parent)
    result = autograde_in_worker(config, assignment, student)
    if not result.success:
        return GradingOutcome(student, result.outcome, result.error, flags=flags)
    Path(scratch, AUTOGRADED_MARK).touch()
    course = Course(config.CourseDirectory.root, config)
    notebooks = course.notebook_names(assignment)
    for name, notes in review_notes("graded", "", flags, notebooks).items():
        course.write_auto_comments(assignment, student, name, notes, keep_existing=True)
    feedback_error, feedback_seconds = "", 0.0
    if feedback:
        started = time.monotonic()
        try:
            course.feedback(assignment, student)
        except Exception as error:  # grades stand without feedback; the report says why
            lines = [line for line in str(error).splitlines() if line.strip()]
            feedback_error = lines[-1] if lines else type(error).__name__
        feedback_seconds = time.monotonic() - started
    autograded = course.path("autograded", assignment, student)
    failures: dict[str, tuple[str, ...]] = {}
    for name in notebooks:
        path = autograded / f"{name}.ipynb"
        if path.is_file():
            failures.update(cell_failures(nbformat.read(path, as_version=4)))
    max_points = course.graded_cells(assignment)
    scores = course.scores(assignment, student)
    cells = {grade_id: CellResult(scores.get(grade_id, 0.0), points, failures.get(grade_id, ()))
             for grade_id, points in max_points.items()}
    made = course.path("feedback", assignment, student)
    return GradingOutcome(student, "graded", flags=flags, cells=cells,
                          autograded=read_folder(autograded),
                          feedback=read_folder(made) if made.is_dir() else {},
                          feedback_error=feedback_error, feedback_seconds=feedback_seconds)


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent ends (a Dask worker killed mid-task
    must not leave its grading process running); exit at once if it has ended already."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the coordinator's kill still applies
        return
    if os.getppid() != parent:
        os._exit(1)
