"""Instructor tools: thin helpers over nbgrader's Python API for this course.

Nothing here reimplements nbgrader; these functions build the course's configuration, prepare
simulated or real submissions, read scores back from the gradebook, and grade a whole class
safely (``backprop-course grade ASSIGNMENT``, see :mod:`.coordinator`). It needs the
``instructor`` extra (nbgrader and friends), which the students' install leaves out.
"""

import importlib
import importlib.util

if importlib.util.find_spec("nbgrader") is None:
    raise ImportError("backprop_course is the instructor's tool and needs nbgrader, which is not "
                      "installed: pip install -e '.[instructor]' (from the course repository)")

#: What ``from backprop_course import NAME`` gives, and the module it lives in. Imported on
#: first use (PEP 562), so that the grade command (``__main__``) chooses what its process loads
#: before nbformat and nbgrader are imported.
EXPORTS = {
    "ClassReport": "backprop_course.report",
    "Course": "backprop_course.course",
    "StudentResult": "backprop_course.report",
    "check_release": "backprop_course.release_check",
    "course_config": "backprop_course.course",
    "grade_class": "backprop_course.coordinator",
    "list_assignments": "backprop_course.course",
    "reference_submission": "backprop_course.submissions",
    "submit_notebook": "backprop_course.submissions",
}
__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> object:
    if name not in EXPORTS:
        raise AttributeError(f"module 'backprop_course' has no attribute {name!r}")
    value = getattr(importlib.import_module(EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
