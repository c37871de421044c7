"""Grading helpers for the course's nbgrader test cells.

The locked setup cell of every notebook runs::

    from backprop_grading import check, check_close, check_shape, call, Rubric

and test cells use them::

    dx = call(tanh_backward, dy, y, forbid=(Tanh.backward,))
    check_shape(dx, dy.shape, "dx")
    check_close(dx, dy * (1 - y**2), "dx is wrong: tanh'(x) = 1 - tanh(x)^2", name="dx")

- :func:`check`, :func:`check_close`, :func:`check_shape` raise :class:`GradingFailure` (an
  AssertionError) with a message that says what is wrong (not an array, shape, dtype,
  NaN/inf, the worst entry and how many differ) followed by the author's hint.
- :func:`call` runs the student's function, prints its warnings to stdout as notes, and fails
  when it delegates to a kit function listed in ``forbid``.
- :class:`Rubric` gives partial credit for independent parts of one cell.
- An exercise left blank (the release's ``raise NotImplementedError()``) fails in one line,
  :class:`ExerciseNotWritten`, through ``call`` or in a rubric part; and the helpers set
  ``__tracebackhide__`` so that IPython and pytest leave their frames out of tracebacks (IPython
  still shows the frame an exception is raised in: a failed check's own ``raise`` line).

Nothing here writes to stderr for a correct answer: nbgrader scores a test cell zero for any
stderr output, so importing this package also routes Python warnings (numpy's floating-point
warnings included) to stdout.

Where the tests run
-------------------
These helpers guard nothing against the notebook they run in: while grading, the test cells run
in a trusted kernel that never receives student code, and the student's functions run in a
sandboxed process that answers calls (``backprop_course/trusted/``), so a notebook that
patches numpy, a built-in or a helper changes only its own process. (Checks inside the
student's interpreter were deleted when every notebook moved to that design: code that runs in
the same process can defeat any of them.) ``call(..., forbid=...)`` still tells a student in
Jupyter that the test forbids a kit function their code used.
"""


from . import (
    compare,
    delegation,
    diagnose,
    failures,
    formatting,
    rubric,
    warnings_capture,
)
from .compare import check, check_close, check_shape
from .delegation import call
from .failures import ExerciseNotWritten, GradingFailure
from .rubric import Rubric
from .warnings_capture import route_warnings_to_stdout

__all__ = [
    "ExerciseNotWritten",
    "GradingFailure",
    "Rubric",
    "call",
    "check",
    "check_close",
    "check_shape",
    "compare",
    "delegation",
    "diagnose",
    "failures",
    "formatting",
    "route_warnings_to_stdout",
    "rubric",
    "warnings_capture",
]

route_warnings_to_stdout()
