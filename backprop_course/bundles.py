"""What travels between the grading coordinator and a grading worker: plain data only.

No shared filesystem is assumed. The coordinator packs an assignment (its source folder as
bytes, the effective nbgrader configuration, the due date and the checksums of its cells in
the coordinator's gradebook) into an :class:`AssignmentBundle`, and each student's submitted
folder into a :class:`SubmissionBundle`. A worker grades from those bytes in a temporary course
(:mod:`.worker`) and answers with a :class:`GradingOutcome`: scores, per-cell results, flags,
the autograded folder and the feedback folder as bytes. Only the coordinator writes the
gradebook and the course's files (:mod:`.coordinator`).

The same objects serve ``--workers N`` on one machine (handed to a forked process) and a Dask
cluster (pickled by Dask), so both paths grade through the same code.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from nbgrader.api import Gradebook
from nbgrader.utils import find_all_files
from traitlets.config import Config

from backprop_course.gradebook_schema import read_gradebook_version_in_process
from backprop_course.static_scan import Flag


def read_folder(folder: str | os.PathLike, ignore: list[str] | tuple[str, ...] = ()
                ) -> dict[str, bytes]:
    """Every regular file under ``folder`` as ``{relative posix path: bytes}``.

    Symbolic links are skipped (never followed): a submission cannot make the coordinator read
    and ship a file from elsewhere on its machine. ``ignore`` holds nbgrader's ignore globs.
    """
    folder = Path(folder)
    files = {}
    for path in sorted(find_all_files(str(folder), list(ignore))):
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        relative = Path(path).relative_to(folder)
        if any(os.path.islink(folder.joinpath(*relative.parts[:i]))
               for i in range(1, len(relative.parts))):
            continue
        files[relative.as_posix()] = Path(path).read_bytes()
    return files


def write_folder(folder: str | os.PathLike, files: dict[str, bytes]) -> None:
    """Write ``{relative posix path: bytes}`` under ``folder`` (created if missing).

    Raises
    ------
    ValueError
        A path is absolute or climbs out of ``folder`` (``..``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
            raise ValueError(f"a bundled file must have a relative path inside its folder, "
                             f"got {name!r}")
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def files_digest(files: dict[str, bytes]) -> str:
    """SHA-256 over the sorted (path, content) pairs, hex."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(hashlib.sha256(name.encode()).digest())
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@functools.cache
def empty_gradebook() -> bytes:
    """An empty SQLite gradebook, made once per process."""
    read_gradebook_version_in_process()
    with tempfile.TemporaryDirectory(prefix="bk-gradebook-") as folder:
        path = Path(folder) / "gradebook.db"
        with Gradebook(f"sqlite:///{path}"):
            pass
        return path.read_bytes()


@dataclass(frozen=True)
class AssignmentBundle:
    """An assignment as a grading worker needs it.

    Attributes
    ----------
    assignment : str
    source_files : dict
        ``source/<assignment>/`` as relative path -> bytes (notebooks with solutions and hidden
        tests, and the files the assignment ships).
    config : traitlets.config.Config
        The coordinator's effective nbgrader configuration (``nbgrader_config.py`` plus the
        command's settings: sandbox, memory, time limits). Paths in it (course root, gradebook
        URL, exchange) are replaced on the worker.
    duedate : datetime or None
        The assignment's due date in the coordinator's gradebook (for the late penalty the
        feedback shows; the coordinator computes the recorded one itself).
    cell_checksums : dict
        notebook -> {cell grade_id -> checksum} of the coordinator's gradebook; the worker's
        freshly generated copy must match, or its scores would not be the coordinator's.
    empty_gradebook : bytes
        An empty SQLite gradebook (:func:`empty_gradebook`) for the worker's course, so that
        no worker has to make one.
    """

    assignment: str
    source_files: dict[str, bytes]
    config: Config
    duedate: datetime | None
    cell_checksums: dict[str, dict[str, str]]
    empty_gradebook: bytes = b""

    @property
    def digest(self) -> str:
        """Content hash of the source and the gradebook's cells (not of the configuration)."""
        checksums = json.dumps(self.cell_checksums, sort_keys=True).encode()
        return files_digest({**self.source_files, "\0checksums": checksums})

    @classmethod
    def of(cls, course, assignment: str) -> AssignmentBundle:
        """Pack ``assignment`` of ``course`` (a :class:`~backprop_course.course.Course`).

        Raises
        ------
        FileNotFoundError
            The source folder is missing.
        """
        source = course.path("source", assignment)
        if not source.is_dir():
            raise FileNotFoundError(f"no source folder {source} for assignment {assignment!r}")
        with Gradebook(course.db_url) as gb:
            found = gb.find_assignment(assignment)
            checksums = {nb.name: {cell.name: cell.checksum for cell in nb.source_cells}
                         for nb in found.notebooks}
            duedate = found.duedate
        return cls(assignment, read_folder(source, course.api.coursedir.ignore),
                   copy.deepcopy(course.config), duedate, checksums, empty_gradebook())


@dataclass(frozen=True)
class SubmissionBundle:
    """One student's ``submitted/<student>/<assignment>/`` folder as bytes.

    Attributes
    ----------
    student : str
    files : dict
        relative path -> bytes (symbolic links left out).
    """

    student: str
    files: dict[str, bytes]

    @property
    def digest(self) -> str:
        """SHA-256 of the submitted files (names and contents), hex."""
        return files_digest(self.files)

    @classmethod
    def read(cls, folder: str | os.PathLike, student: str) -> SubmissionBundle:
        return cls(student, read_folder(folder))


@dataclass(frozen=True)
class CellResult:
    """One graded cell of one student.

    Attributes
    ----------
    points : float
        What the gradebook says after autograding.
    max_points : float
    failures : tuple of str
        The cell's failure lines: ``ExceptionType: message`` of an error output, and every
        ``[FAILED] part (points): why`` of a rubric summary. Student-controlled text.
    """

    points: float
    max_points: float
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class GradingOutcome:
    """What a worker says about one student's run.

    Attributes
    ----------
    student : str
    status : str
        "graded", "crashed", "timeout" or "failed" (see :data:`.report.STATUSES`); an
        outcome whose run could not finish carries nothing else but ``detail`` and ``flags``.
    detail : str
        Why a run was not graded ("" when it was).
    seconds : float
        Wall-clock time of the run on the worker.
    flags : dict
        The static scan (:func:`~backprop_course.worker.scan_submission`): notebook ->
        list of Flag.
    cells : dict
        grade_id -> :class:`CellResult` (graded runs only).
    autograded : dict
        ``autograded/<student>/<assignment>/`` as relative path -> bytes (graded runs only).
    feedback : dict
        ``feedback/<student>/<assignment>/`` as relative path -> bytes (graded runs only,
        and when nbgrader could make it).
    feedback_error : str
        Why there is no feedback for a graded run ("" otherwise).
    feedback_seconds : float
        Of ``seconds``, the time spent making the feedback.
    worker : str
        ``host:pid`` of the process that graded (set on a Dask worker; "" locally).
    """

    student: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    flags: dict[str, list[Flag]] = field(default_factory=dict)
    cells: dict[str, CellResult] = field(default_factory=dict)
    autograded: dict[str, bytes] = field(default_factory=dict)
    feedback: dict[str, bytes] = field(default_factory=dict)
    feedback_error: str = ""
    feedback_seconds: float = 0.0
    worker: str = ""

    @property
    def scores(self) -> dict[str, float]:
        """grade_id -> points."""
        return {grade_id: cell.points for grade_id, cell in self.cells.items()}
