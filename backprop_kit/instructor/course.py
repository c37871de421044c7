"""The course directory as nbgrader sees it, configured from the repository's nbgrader_config.py."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"


def _ensure_venv_bin_on_path() -> None:
    """nbgrader runs the ``alembic`` executable to create a gradebook; it lives beside python."""
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path


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
        _ensure_venv_bin_on_path()
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


def _raise_on_failure(result: dict, step: str, assignment: str) -> None:
    if not result.get("success", False):
        raise RuntimeError(f"nbgrader {step} {assignment} failed:\n{result.get('error', '')}\n"
                           f"{result.get('log', '')}")
