"""Pre-release sanity check: the reference solution earns every point and the blank release none.

Everything happens in a temporary course built from the assignment's source folder: the
instructor's release folder and gradebook are not touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat

from backprop_course.coordinator import grade_class
from backprop_course.course import Course, course_config
from backprop_course.report import ClassReport
from backprop_course.submissions import reference_submission, submit_notebook

REFERENCE, BLANK = "reference", "blank"


def check_release(course_dir: str | os.PathLike, assignment: str, **grading: object
                  ) -> ClassReport:
    """Grade the reference solution and the untouched release of ``assignment``.

    Parameters
    ----------
    course_dir : path
        The course repository (holds ``nbgrader_config.py`` and the source folder).
    assignment : str
    **grading
        Passed on to :func:`grade_class` (``workers``, ``timeout_per_notebook``, ...).

    Returns
    -------
    ClassReport
        Two rows, "blank" and "reference"; see :func:`release_problems`.
    """
    source = Course(course_dir, course_config(course_dir)).path("source", assignment)
    if not source.is_dir():
        raise FileNotFoundError(f"no source folder {source} for assignment {assignment!r}")
    with tempfile.TemporaryDirectory(prefix="bk-check-") as tmp:
        course = Course(tmp, course_config(tmp, config_dir=course_dir))
        shutil.copytree(source, course.path("source", assignment))
        course.generate(assignment)
        for path in sorted(course.path("source", assignment).glob("*.ipynb")):
            solution = nbformat.read(path, as_version=4)
            release_path = course.path("release", assignment) / path.name
            release = nbformat.read(release_path, as_version=4)
            submit_notebook(course.path("submitted", assignment, REFERENCE),
                            reference_submission(solution, release), path.stem)
            shutil.copy(release_path, _folder(course.path("submitted", assignment, BLANK)))
        return grade_class(course, assignment, students=[REFERENCE, BLANK], **grading)


def release_problems(report: ClassReport) -> list[str]:
    """What is wrong with a release according to :func:`check_release`'s report ([] if none)."""
    problems = []
    for student, expected in ((REFERENCE, report.max_total), (BLANK, 0.0)):
        row = report.row(student)
        if row.status != "graded":
            problems.append(f"the {student} notebook was not graded: {row.status}, {row.detail}")
        elif row.total != expected:
            lost = {gid: p for gid, p in row.scores.items() if p != report.max_points[gid]} \
                if student == REFERENCE else {gid: p for gid, p in row.scores.items() if p}
            problems.append(f"the {student} notebook scores {row.total:g}, expected "
                            f"{expected:g}; cells: {lost}")
    return problems


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
