"""Instructor tools: thin helpers over nbgrader's Python API for this course.

Nothing here reimplements nbgrader; these functions build the course's configuration, prepare
simulated or real submissions, read scores back from the gradebook, and grade a whole class
safely (``backprop-course grade ASSIGNMENT``, see :mod:`.grade_class`). It needs the
``instructor`` extra (nbgrader and friends), which the students' install leaves out.
"""

import importlib.util

if importlib.util.find_spec("nbgrader") is None:
    raise ImportError("backprop_course is the instructor's tool and needs nbgrader, which is not "
                      "installed: pip install -e '.[instructor]' (from the course repository)")

from backprop_course.course import Course, course_config, list_assignments
from backprop_course.grade_class import grade_class
from backprop_course.release_check import check_release
from backprop_course.report import ClassReport, StudentResult
from backprop_course.submissions import reference_submission, submit_notebook

__all__ = [
    "ClassReport",
    "Course",
    "StudentResult",
    "check_release",
    "course_config",
    "grade_class",
    "list_assignments",
    "reference_submission",
    "submit_notebook",
]
