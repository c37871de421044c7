"""The checks a test cell makes: ``check``, ``check_close`` and ``check_shape``.

Each one raises :class:`GradingFailure` with a targeted message, followed by the test author's
hint. A passing check prints nothing. While grading, they run in the trusted kernel, where no
student code runs (backprop_course/trusted/), so nothing a notebook does can replace them.
"""

from __future__ import annotations

from numpy import array, bool_, generic, ndarray

from .diagnose import (
    NUMBER_TYPES,
    dtype_problem,
    nonfinite_problem,
    shape_problem,
    to_array,
    type_problem,
    value_problem,
)
from .failures import GradingFailure
from .formatting import format_shape


def failure(problem: str, hint: str = "") -> GradingFailure:
    """The exception for ``problem`` (what is wrong) followed by the author's ``hint``."""
    return GradingFailure(problem if problem.endswith((".", "?")) else problem + ".", hint)


def check(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` is True.

    Parameters
    ----------
    condition : bool, np.bool_ or boolean array of size 1
        A single truth value (a larger array is refused: use :func:`check_close` or
        ``np.all``; so is anything that is not a boolean, whose truth a student could define).
    message : str
        What the student should look at when it is False.

    Raises
    ------
    GradingFailure
        With ``message`` when ``condition`` is False.
    TypeError
        When ``condition`` is not a single bool.
    """
    __tracebackhide__ = True  # IPython and pytest show the test cell's line, not this frame
    one_bool = isinstance(condition, ndarray) and condition.dtype == bool_ and condition.size == 1
    if not (isinstance(condition, (bool, bool_)) or one_bool):
        shape = f" of shape {condition.shape}" if isinstance(condition, ndarray) else ""
        raise TypeError(f"check() needs True or False as its condition, got "
                        f"{type(condition).__name__}{shape}: compare arrays with check_close, or "
                        f"use bool(np.all(...))")
    if not condition:
        raise GradingFailure(hint=message)


def check_close(actual: object, expected: object, message: str = "", *, rtol: float = 1e-6,
                atol: float = 1e-9, name: str = "result", factor_hint: bool = True) -> None:
    """Fail unless ``actual`` has the shape and dtype family of ``expected`` and close values.

    Entries match when ``|actual - expected| <= atol + rtol * |expected|`` (NaN matches NaN).
    The failure says what is wrong first: not an array (None, a tuple, a list of the wrong
    length), the shape, the dtype (only checked when ``expected`` is a numpy array or numpy
    scalar), NaN/inf where finite values are expected, or the worst entry with expected and
    actual values and how many entries differ; then ``message``.

    Parameters
    ----------
    actual : ndarray, number or list
        The student's result, any shape.
    expected : ndarray, number, list or tuple
        The correct value, computed independently of the student's code; ``actual`` must have
        its shape.
    message : str, optional
        A hint for the student, appended on its own line.
    rtol, atol : float
        Relative and absolute tolerance.
    name : str
        What the result is called in the message ("dx", "loss").
    factor_hint : bool
        Whether a wrong result that is exactly k times the expected one, for a plausible
        constant k (2, 1/N, ...), gets the guess "a missing or extra constant factor?"; switch
        it off where such a factor would point at the wrong cause.

    Raises
    ------
    GradingFailure
        With the targeted message.
    """
    __tracebackhide__ = True
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    expected_array = array(expected, copy=True, subok=False)
    expected_shape = expected_array.shape
    problem = type_problem(actual, expected_shape, name, isinstance(expected, tuple))
    if problem is not None:
        raise failure(problem, message)
    actual_array, problem = to_array(actual, expected_shape, name)
    if problem is None:
        problem = shape_problem(actual, actual_array.shape, expected_shape, name)
    if problem is None and isinstance(expected, (ndarray, generic)):
        problem = dtype_problem(actual_array, expected_array, name)
    if problem is None:
        problem = nonfinite_problem(actual_array, expected_array, name) or value_problem(
            actual_array, expected_array, name, rtol=rtol, atol=atol, factor_hint=factor_hint)
    if problem is not None:
        raise failure(problem, message)


def check_shape(actual: object, expected_shape: tuple[int, ...], name: str, *,
                message: str = "") -> None:
    """Fail unless ``actual`` is a numpy array (or number) of shape ``expected_shape``.

    Parameters
    ----------
    actual : ndarray or number
        The student's result.
    expected_shape : tuple of int
        e.g. ``(N, D)``; ``()`` for a number.
    name : str
        What the result is called in the message.
    message : str, optional
        A hint for the student, appended on its own line.

    Raises
    ------
    GradingFailure
        "dx has the wrong shape: expected shape (4, 3), got (3, 4) (transposed?)", or what the
        result is instead of an array.
    """
    __tracebackhide__ = True
    if not (isinstance(expected_shape, tuple)
            and all(isinstance(n, int) and n >= 0 for n in expected_shape)):
        raise TypeError(f"expected_shape must be a tuple of non-negative ints, got "
                        f"{expected_shape!r}")
    if isinstance(actual, (ndarray, generic)):
        problem = shape_problem(actual, actual.shape, expected_shape, name)
    elif isinstance(actual, NUMBER_TYPES):
        problem = shape_problem(actual, (), expected_shape, name)
    elif isinstance(actual, list):
        problem = (f"{name} is a list of length {len(actual)}, expected a numpy array of shape "
                   f"{format_shape(expected_shape)}: build it with numpy operations or "
                   f"np.array(...)")
    else:
        problem = type_problem(actual, expected_shape, name)
    if problem is not None:
        raise failure(problem, message)
