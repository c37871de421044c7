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

Tamper detection
----------------
Importing the package captures the genuine numpy functions, built-ins and helpers; every check,
``call`` and ``Rubric.score`` (and, inside IPython, a hook before every cell) first compares the
live state with those captures and raises :class:`TamperingDetected` ("Tampering detected:
np.allclose was replaced in your notebook; remove that line and restart the kernel"). The
comparisons themselves use ufuncs and C functions bound at import, so a patched ``np.allclose``
cannot make a wrong answer pass even before it is reported. Watched:

- every callable and submodule of ``numpy``, ``numpy.testing``, ``numpy.linalg``,
  ``numpy.random`` and of the internal numpy modules ``np.allclose`` and
  ``np.testing.assert_allclose`` are built from, including a replaced ``__code__``;
  ``sys.modules['numpy']``;
- the built-ins test cells and the helpers use (``abs``, ``len``, ``isinstance``, ``all``,
  ``max``, ``print``, ``AssertionError``, ``__import__``, ... in
  :data:`~backprop_grading.originals.WATCHED_BUILTINS`), and notebook globals hiding some
  of them (``isinstance = ...``);
- ``sys._getframe``, ``sys.setprofile``, ``sys.getprofile``, ``sys.modules``;
- every attribute of the grading modules, the code and defaults of every grading function, the
  contents of every grading class (``Rubric.score = ...``);
- the calling notebook's ``check``, ``check_close``, ``check_shape``, ``call``, ``Rubric``,
  ``np``: still the originals;
- inside IPython: the hooks that turn an error or a score into cell output
  (``showtraceback``, ``set_custom_exc``, the display hook and formatter), the before-cell check
  still registered, and the score being displayed as itself;
- in ``call()``: calls of the forbidden reference implementations under any name, and
  ``sys.setprofile`` calls that would switch that watch off.

What in-kernel detection cannot prevent: the student's code runs in the same process, with
the same powers as this package, so a determined student can defeat any of this: patch
something not watched (numpy's other internals, IPython's classes, ``ndarray`` subclasses'
behaviour elsewhere), replace the watchers themselves in an order that avoids every check,
rebind all helpers and unregister the before-cell hook, run the reference in another thread,
or change a global that the test cell computed earlier (compute expected values *after*
``call()``, and pass copies of inputs the test reuses). Detection also sees only what exists
when a helper runs. The second layer is a static scan of the submitted notebooks at autograde
time, built separately; this module makes the easy cheats fail loudly and honest mistakes get
clear messages.
"""

import sys

from . import (
    compare,
    delegation,
    diagnose,
    failures,
    formatting,
    integrity,
    originals,
    rubric,
    warnings_capture,
)
from .compare import check, check_close, check_shape
from .delegation import call
from .failures import ExerciseNotWritten, GradingFailure, TamperingDetected
from .integrity import verify_integrity
from .rubric import Rubric
from .warnings_capture import route_warnings_to_stdout

__all__ = [
    "ExerciseNotWritten",
    "GradingFailure",
    "Rubric",
    "TamperingDetected",
    "call",
    "check",
    "check_close",
    "check_shape",
    "compare",
    "delegation",
    "diagnose",
    "failures",
    "formatting",
    "integrity",
    "originals",
    "route_warnings_to_stdout",
    "rubric",
    "verify_integrity",
    "warnings_capture",
]

route_warnings_to_stdout()
integrity.seal(
    [module for name, module in sys.modules.items()
     if name == __name__ or name.startswith(__name__ + ".")],
    {name: globals()[name] for name in integrity.HELPER_NAMES},
)
