"""Instructor tools: thin helpers over nbgrader's Python API for this course.

Nothing here reimplements nbgrader; these functions build the course's configuration, prepare
simulated or real submissions, and read scores back from the gradebook.
"""

from backprop_kit.instructor.course import Course, course_config, list_assignments
from backprop_kit.instructor.submissions import reference_submission, submit_notebook

__all__ = [
    "Course",
    "course_config",
    "list_assignments",
    "reference_submission",
    "submit_notebook",
]
