"""The course directory as nbgrader sees it, configured from the repository's nbgrader_config.py."""

from __future__ import annotations

import datetime
import glob
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from backprop_course.bundles import write_folder
from backprop_course.gradebook_schema import read_gradebook_version_in_process

CONFIG_FILE = "nbgrader_config.py"


def course_config(root: str | os.PathLike, config_dir: str | os.PathLike | None = None,
                  db_url: str | None = None) -> Config:
    """Load the course's nbgrader configuration and point it at ``root``.

    Parameters
    ----------
    root : path
        The course directory that holds ``solutions/``, ``notebooks/``, ``submitted/`` ...
    config_dir : path, optional
        Where ``nbgrader_config.py`` lives (default: ``root``). Tests build a course in a
        temporary directory and load the repository's configuration from here.
    db_url : str, optional
        SQLAlchemy URL of the gradebook (default: SQLite file ``gradebook.db`` in ``root``).

    Returns
    -------
    traitlets.config.Config
    """
    config_dir = Path(config_dir if config_dir is not None else root)
    if not (config_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(
            f"no {CONFIG_FILE} in {config_dir}: expected the course's repository root")
    config = PyFileConfigLoader(CONFIG_FILE, path=str(config_dir)).load_config()
    config.CourseDirectory.root = str(Path(root).resolve())
    config.Exchange.root = str(Path(root).resolve() / "exchange")
    if db_url is not None:
        config.CourseDirectory.db_url = db_url
    return config


def list_assignments(source_dir: str | os.PathLike) -> list[str]:
    """Names of the assignments in a source directory: folders holding a notebook of the same name.

    Parameters
    ----------
    source_dir : path
        e.g. the repository's ``solutions/``.

    Returns
    -------
    list of str, sorted (``["01_chain_rule", ...]``).
    """
    source_dir = Path(source_dir)
    return sorted(p.parent.name for p in source_dir.glob("*/*.ipynb")
                  if p.stem == p.parent.name)


@dataclass
class Course:
    """A course directory plus an in-process nbgrader API bound to it.

    Parameters
    ----------
    root : Path
        The course directory.
    config : Config
        From :func:`course_config`.
    """

    root: Path
    config: Config
    api: NbGraderAPI = field(init=False)

    def __post_init__(self) -> None:
        read_gradebook_version_in_process()
        self.root = Path(self.root)
        coursedir = CourseDirectory(config=self.config)
        self.api = NbGraderAPI(coursedir=coursedir, config=self.config)
        self.api.log.setLevel(logging.WARNING)

    @property
    def db_url(self) -> str:
        return self.api.coursedir.db_url

    def path(self, step: str, assignment: str, student: str = ".") -> Path:
        """Folder of ``assignment`` at nbgrader ``step`` ('source', 'release', 'submitted', ...)."""
        return Path(self.api.coursedir.format_path(getattr(self.api.coursedir, f"{step}_directory"),
                                                   student, assignment))

    def generate(self, assignment: str) -> None:
        """``nbgrader generate_assignment ASSIGNMENT --force``; raises on failure."""
        result = self.api.generate_assignment(assignment, force=True)
        _raise_on_failure(result, "generate_assignment", assignment)

    def autograde(self, assignment: str, student: str) -> dict:
        """``nbgrader autograde ASSIGNMENT --student STUDENT --force``; nbgrader's result dict."""
        return self.api.autograde(assignment, student, force=True, create=True)

    def feedback(self, assignment: str, student: str) -> None:
        """``nbgrader generate_feedback ASSIGNMENT --student STUDENT``; raises on failure."""
        _raise_on_failure(self.api.generate_feedback(assignment, student, force=True),
                          "generate_feedback", assignment)

    def scores(self, assignment: str, student: str) -> dict[str, float]:
        """Points per graded cell (grade_id -> points) of an autograded submission."""
        with Gradebook(self.db_url) as gb:
            submission = gb.find_submission(assignment, student)
            return {grade.name: grade.score for nb in submission.notebooks for grade in nb.grades}

    def total_score(self, assignment: str, student: str) -> tuple[float, float]:
        """(score, max_score) of one student's submission of ``assignment``."""
        with Gradebook(self.db_url) as gb:
            submission = gb.find_submission(assignment, student)
            return submission.score, submission.max_score


    def submitted_students(self, assignment: str) -> list[str]:
        """Ids of the students with a ``submitted/<student>/<assignment>/`` folder, sorted."""
        pattern = str(self.path("submitted", assignment, "*"))
        student_index = Path(pattern).parts.index("*")
        return sorted(Path(p).parts[student_index] for p in glob.glob(pattern) if Path(p).is_dir())

    def graded_cells(self, assignment: str) -> dict[str, float]:
        """grade_id -> max points of every graded cell of ``assignment``, in notebook order.

        Raises
        ------
        LookupError
            When the gradebook does not know the assignment (``generate`` was not run).
        """
        with Gradebook(self.db_url) as gb:
            try:
                notebooks = gb.find_assignment(assignment).notebooks
            except MissingEntry:
                raise LookupError(
                    f"the gradebook {self.db_url} has no assignment {assignment!r}: run "
                    f"`nbgrader generate_assignment {assignment}` first") from None
            return {cell.name: cell.max_score
                    for nb in sorted(notebooks, key=lambda n: n.name)
                    for cell in _in_source_order(nb, nb.grade_cells)}

    def notebook_names(self, assignment: str) -> list[str]:
        """Names (without .ipynb) of the notebooks of ``assignment`` known to the gradebook."""
        with Gradebook(self.db_url) as gb:
            return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)

    def score_table(self, assignment: str) -> dict[str, dict[str, float]]:
        """student -> {grade_id -> points} for every submission of ``assignment``."""
        with Gradebook(self.db_url) as gb:
            return {sub.student.id: {grade.name: grade.score for nb in sub.notebooks
                                     for grade in nb.grades}
                    for sub in gb.find_assignment(assignment).submissions}

    def record_autograded(self, assignment: str, student: str, autograded: dict[str, bytes],
                          feedback: dict[str, bytes],
                          timestamp: datetime.datetime | None) -> dict[str, float]:
        """Record a submission autograded elsewhere (a grading worker) as ``nbgrader autograde``
        would have, from the autograded notebooks' bytes.

        ``autograded/<student>/<assignment>/`` and ``feedback/<student>/<assignment>/`` are
        replaced by the given files; the gradebook gets the submission (with ``timestamp``),
        and each notebook's scores, "No response." comments and late penalty from nbgrader's
        own ``SaveAutoGrades`` and ``AssignLatePenalties`` run on the autograded notebook
        (reading its outputs; nothing is executed). A notebook of the assignment that has no
        autograded copy scores 0, as in nbgrader's autograde. Manual scores stay.

        Parameters
        ----------
        autograded, feedback : dict
            relative path -> bytes.
        timestamp : datetime or None
            From the submission's ``timestamp.txt``.

        Returns
        -------
        dict
            grade_id -> points the gradebook now holds for this submission.
        """
        for step, files in (("autograded", autograded), ("feedback", feedback)):
            folder = self.path(step, assignment, student)
            if folder.is_dir():
                shutil.rmtree(folder)
            if files:
                write_folder(folder, files)
        with Gradebook(self.db_url) as gb:
            gb.update_or_create_student(student)
            if timestamp is not None:
                gb.update_or_create_submission(assignment, student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(assignment, student)
            names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        folder = self.path("autograded", assignment, student)
        for name in names:
            path = folder / f"{name}.ipynb"
            if not path.is_file():
                self._zero_notebook(assignment, student, name)
                continue
            nb = nbformat.read(path, as_version=4)
            resources = {"nbgrader": {"notebook": name, "assignment": assignment,
                                      "student": student, "db_url": self.db_url}}
            for step in (SaveAutoGrades, AssignLatePenalties):
                step(config=self.config).preprocess(nb, resources)
        return self.scores(assignment, student)

    def _zero_notebook(self, assignment: str, student: str, notebook: str) -> None:
        with Gradebook(self.db_url) as gb:
            for grade in gb.find_submission_notebook(notebook, assignment, student).grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()

    def zero_submission(self, assignment: str, student: str) -> None:
        """Score every cell of a submission 0 and remove its autograded copy and feedback.

        nbgrader leaves the previous run's grades in place when autograding a submission fails
        (a crashed or killed grading process): this is how a failure becomes an honest 0 instead. A
        manual score an instructor gave stays, flagged for review, as nbgrader itself does.
        """
        with Gradebook(self.db_url) as gb:
            gb.update_or_create_student(student)
            submission = gb.update_or_create_submission(assignment, student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = grade.manual_score is not None
            gb.db.commit()
        for step in ("autograded", "feedback"):
            folder = self.path(step, assignment, student)
            if folder.is_dir():
                shutil.rmtree(folder)

    def write_auto_comments(self, assignment: str, student: str, notebook: str,
                            notes: dict[str | None, list[str]], *, keep_existing: bool) -> None:
        """Put notes into the gradebook's automatic comments of a submitted notebook.

        Parameters
        ----------
        notes : dict
            answer-cell grade_id -> lines for that cell's comment; any other key (None, a test
            cell's id, "notebook") goes to the notebook's first answer cell.
        keep_existing : bool
            Append to what nbgrader wrote in this run ("No response."), or replace a comment
            that an earlier run left (after a failed run).
        """
        with Gradebook(self.db_url) as gb:
            submitted = gb.find_submission_notebook(notebook, assignment, student)
            comments = {c.name: c for c in _in_source_order(submitted.notebook,
                                                            submitted.comments)}
            if not comments:
                return
            first = next(iter(comments))
            lines: dict[str, list[str]] = {}
            for where, texts in notes.items():
                lines.setdefault(where if where in comments else first, []).extend(texts)
            for name, comment in comments.items():
                kept = [comment.auto_comment] if keep_existing and comment.auto_comment else []
                comment.auto_comment = "\n\n".join(kept + lines.get(name, [])) or None
            gb.db.commit()


def _in_source_order(notebook, items) -> list:
    """Cells (or grades, comments) of a gradebook notebook in the order of its source cells."""
    order = {cell.name: i for i, cell in enumerate(notebook.source_cells)}
    return sorted(items, key=lambda item: order.get(item.name, len(order)))


def _raise_on_failure(result: dict, step: str, assignment: str) -> None:
    if not result.get("success", False):
        raise RuntimeError(f"nbgrader {step} {assignment} failed:\n{result.get('error', '')}\n"
                           f"{result.get('log', '')}")
