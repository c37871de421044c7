"""What is wrong with a student's result: pure functions returning a message or None."""

from __future__ import annotations

from math import copysign

from numpy import (
    absolute,
    array,
    complex128,
    count_nonzero,
    errstate,
    float64,
    generic,
    inf,
    iscomplexobj,
    isfinite,
    isinf,
    isnan,
    ndarray,
    unravel_index,
    where,
)

from .formatting import format_count, format_index, format_number, format_pair, format_shape

NUMBER_TYPES = (bool, int, float, complex, generic)
_DTYPE_FAMILIES = {"b": "bool", "i": "integer", "u": "integer", "f": "floating", "c": "complex"}


def _wanted(expected_shape: tuple[int, ...]) -> str:
    return "a number" if expected_shape == () else f"an array of shape {expected_shape}"


def type_problem(actual: object, expected_shape: tuple[int, ...], name: str,
                 tuple_expected: bool = False) -> str | None:
    """Describe an ``actual`` that is not a number, an array or (convertible) list.

    Parameters
    ----------
    actual : object
        The student's result.
    expected_shape : tuple of int
        Shape of the expected array, () for a number.
    name : str
        What the result is called in the message ("dx").
    tuple_expected : bool
        True when the expected value itself is a tuple (then a tuple result is fine).
    """
    wanted = _wanted(expected_shape)
    if actual is None:
        return (f"{name} is None, expected {wanted}: did your function forget to `return` "
                f"its result?")
    if isinstance(actual, tuple) and not tuple_expected:
        return (f"{name} is a tuple of {len(actual)} items, expected {wanted}: return the "
                f"array itself (`return a, b` or a trailing comma makes a tuple)")
    if isinstance(actual, (ndarray, list, tuple, *NUMBER_TYPES)):
        return None
    return f"{name} is a {type(actual).__name__}, expected {wanted} (a numpy array or number)"


def to_array(actual: object, expected_shape: tuple[int, ...], name: str
             ) -> tuple[ndarray | None, str | None]:
    """Copy ``actual`` into a plain ndarray, or say why it cannot be one.

    Returns
    -------
    (ndarray or None, str or None)
        The array (any subclass is dropped, so none of its methods run later) or a message.
    """
    try:
        converted = array(actual, copy=True, subok=False)
    except (ValueError, TypeError):
        return None, (f"{name} is a {type(actual).__name__} that numpy cannot turn into an "
                      f"array (rows of different lengths?), expected {_wanted(expected_shape)}")
    if converted.dtype.kind not in _DTYPE_FAMILIES:
        return None, (f"{name} has dtype {converted.dtype}, expected numbers: it holds something "
                      f"else (None, strings or objects?)")
    return converted, None


def shape_problem(actual: object, actual_shape: tuple[int, ...],
                  expected_shape: tuple[int, ...], name: str) -> str | None:
    """Describe a shape mismatch, with a guess at the usual cause.

    Parameters
    ----------
    actual : object
        The student's result (a list is described as one).
    actual_shape, expected_shape : tuple of int
    name : str
    """
    actual_shape, expected_shape = tuple(actual_shape), tuple(expected_shape)
    if actual_shape == expected_shape:
        return None
    if isinstance(actual, list):
        return (f"{name} is a list of length {len(actual)}, expected "
                f"{_wanted(expected_shape)}")
    message = (f"{name} has the wrong shape: expected shape {format_shape(expected_shape)}, "
               f"got {format_shape(actual_shape)}")
    return message + _shape_hint(actual_shape, expected_shape)


def _size(shape: tuple[int, ...]) -> int:
    size = 1
    for length in shape:
        size *= length
    return size


def _shape_hint(actual: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if len(actual) == 2 and actual == expected[::-1]:
        return " (transposed?)"
    if _size(actual) == _size(expected):
        return " (same entries in another layout: a reshape, transpose or keepdims?)"
    if len(actual) < len(expected):
        return " (summed or averaged over one axis too many?)"
    if len(actual) > len(expected):
        return " (not summed over an axis, e.g. over the batch?)"
    return ""


def dtype_problem(actual: ndarray, expected: ndarray, name: str) -> str | None:
    """Describe a dtype that cannot be right: another family, or another float precision."""
    got, wanted = actual.dtype, expected.dtype
    got_family, wanted_family = _DTYPE_FAMILIES[got.kind], _DTYPE_FAMILIES[wanted.kind]
    message = f"{name} has dtype {got}, expected {wanted}"
    if got_family == wanted_family:
        if got_family == "integer" or got == wanted:
            return None  # int32 or int64 depends on the platform
        if got.itemsize < wanted.itemsize:
            return message + ": keep full precision (look for astype or a float32 array)"
        return message + ": keep the dtype of the inputs (an array made without dtype=?)"
    if wanted_family == "floating":
        if got_family == "integer":
            return (message + ": an integer array somewhere (np.zeros_like of an int array, "
                              "or // instead of /?)")
        if got_family == "bool":
            return message + ": turn the boolean mask into numbers (mask * 1.0)"
        if got_family == "complex":
            return message + ": a square root or log of a negative number?"
    return message


def nonfinite_problem(actual: ndarray, expected: ndarray, name: str) -> str | None:
    """Describe NaN or inf entries of ``actual`` where ``expected`` has ordinary numbers.

    Parameters
    ----------
    actual, expected : ndarray
        Same shape, numeric.
    """
    actual_nan = isnan(actual)
    actual_inf = isinf(actual)
    bad_nan = actual_nan & ~isnan(expected)
    bad_inf = actual_inf & ~isinf(expected)
    bad = bad_nan | bad_inf
    n_bad = count_nonzero(bad)
    if n_bad == 0:
        return None
    kinds = [f"{count_nonzero(mask)} NaN" if mask is bad_nan else f"{count_nonzero(mask)} inf"
             for mask in (bad_nan, bad_inf) if mask.any()]
    where_text = ""
    if actual.ndim > 0:
        first = unravel_index(bad.argmax(), actual.shape)
        where_text = f" ({format_count(n_bad, actual.size)}, first at index {format_index(first)})"
    return (f"{name} contains {' and '.join(kinds)} where finite values are expected"
            f"{where_text}: look for 0/0, log(0), a square root of a negative number or an "
            f"overflow in exp")


def value_problem(actual: ndarray, expected: ndarray, name: str, *, rtol: float, atol: float,
                  factor_hint: bool = True) -> str | None:
    """Describe entries where ``|actual - expected| > atol + rtol * |expected|``.

    NaN matches NaN and inf matches an inf of the same sign. The message names the worst entry
    (the one furthest beyond its tolerance) and how many entries are wrong, and adds a hint
    when the whole result is all zeros, a transpose, off by a sign or (unless ``factor_hint``
    is False) off by one plausible constant factor (see :func:`constant_factor`).

    Parameters
    ----------
    actual, expected : ndarray
        Same shape, numeric.
    name : str
    rtol, atol : float
    factor_hint : bool
        Whether to guess at a constant factor.
    """
    work = complex128 if "c" in (actual.dtype.kind, expected.dtype.kind) else float64
    actual, expected = actual.astype(work), expected.astype(work)
    wrong = ~_close(actual, expected, rtol, atol)
    n_wrong = count_nonzero(wrong)
    if n_wrong == 0:
        return None
    with errstate(all="ignore"):
        excess = absolute(actual - expected) / (atol + rtol * absolute(expected))
    excess = where(wrong, where(isnan(excess), inf, excess), -1.0)
    worst = unravel_index(excess.argmax(), actual.shape)
    shown_expected, shown_got = format_pair(expected[worst].item(), actual[worst].item())
    if actual.size == 1:
        message = f"{name} is wrong: expected {shown_expected}, got {shown_got}"
    else:
        message = (f"{name} is wrong at {format_count(n_wrong, actual.size)}; the worst is at "
                   f"index {format_index(worst)}: expected {shown_expected}, got {shown_got}")
    return message + _value_hint(actual, expected, rtol, atol, factor_hint)


def _close(actual: ndarray, expected: ndarray, rtol: float, atol: float) -> ndarray:
    """Entrywise closeness, like np.isclose(equal_nan=True), from ufuncs only."""
    with errstate(all="ignore"):
        within = absolute(actual - expected) <= atol + rtol * absolute(expected)
    return within | (actual == expected) | (isnan(actual) & isnan(expected))


#: How close every entry must be to one factor times the expected entry (at most the check's
#: own tolerance), and how close the factor must be to a plausible one.
FACTOR_RTOL = 1e-6
#: Factors up to this (and 1 over them) count as "small": the 2 of a square, the 1/2 of a mean
#: of two terms; larger ones only when they equal an axis length (a sum instead of a mean).
SMALL_FACTOR = 10


def constant_factor(actual: ndarray, expected: ndarray, rtol: float, atol: float
                    ) -> float | None:
    """The factor k with ``actual == k * expected`` when one plausible k explains every entry.

    Plausible: k or 1/k is an integer of absolute value from 2 to :data:`SMALL_FACTOR`, or
    equal to the length of one of the axes (a mean over the batch instead of a sum, or the
    reverse), or k is -1. "Every entry" means to within the check's tolerance, and at most
    :data:`FACTOR_RTOL`: a result that is only roughly proportional (a missing bias correction
    next to an eps) or proportional with an odd factor (a clipping factor of 0.6) has another
    cause.

    Parameters
    ----------
    actual, expected : ndarray
        Same shape, float64 or complex128.
    rtol, atol : float
        The check's tolerances.

    Returns
    -------
    float or None
    """
    largest = absolute(expected).argmax()
    scale = absolute(expected.flat[largest])
    if iscomplexobj(expected) or iscomplexobj(actual) or not 0 < scale < inf:
        return None
    factor = float(actual.flat[largest] / expected.flat[largest])
    if not (isfinite(factor) and factor != 0 and _close(
            actual, factor * expected, min(rtol, FACTOR_RTOL), min(atol, FACTOR_RTOL * scale)
    ).all()):
        return None
    plausible = {1, *range(2, SMALL_FACTOR + 1), *expected.shape}
    for candidate, inverted in ((abs(factor), False), (1.0 / abs(factor), True)):
        nearest = round(candidate)
        if nearest in plausible and abs(candidate - nearest) <= FACTOR_RTOL * nearest:
            return copysign(1.0 / nearest if inverted else float(nearest), factor)
    return None


def _value_hint(actual: ndarray, expected: ndarray, rtol: float, atol: float,
                factor_hint: bool) -> str:
    """A guess at a whole-result mistake, or an empty string."""
    if actual.size >= 2 and not actual.any() and expected.any():
        return ". It is all zeros: is part of the computation missing?"
    if actual.ndim == 2 and actual.shape[0] == actual.shape[1] and _close(
            actual, expected.T, rtol, atol).all():
        return (". It equals the transpose of the expected value: check the order of a matrix "
                "product or a missing .T")
    factor = constant_factor(actual, expected, rtol, atol)
    subject = "It" if actual.size == 1 else "Every entry"
    if factor == -1.0:
        return f". {subject} has the opposite sign: check the sign of each term"
    if factor is None or factor == 1.0 or not factor_hint:
        return ""
    return (f". {subject} is {format_number(factor)} times the expected value: a missing or "
            f"extra constant factor (like 1/N of a mean over the batch, or the 2 of a square)?")
