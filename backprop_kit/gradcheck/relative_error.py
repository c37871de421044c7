"""How an analytic gradient is compared with a numerical one, and how kinks are recognised.

Relative error of one entry (a = analytic, n = numerical)::

    rel_error = |a - n| / max(|a| + |n|, floor)
    floor     = max(1e-3 * max_j |n_j|, 1e-8)        (max over the checked entries j)

Dividing by ``|a| + |n|`` makes the error scale-free: 1e-7 means "agrees to 7 digits", for a
gradient of size 1e-3 or 1e3 alike, and a wrong entry of any size shows up. The floor is
there for entries that are tiny compared with the rest of the array. Their numerical value is
mostly rounding noise: a centered difference of float64 values of size |f| has an error of
about 1e-16 * |f| / h ~ 1e-11 * |f|, i.e. around 1e-10 for gradients of order one. Divided
by their own tiny size that noise would look like a large error; measured against a
thousandth of the array's largest gradient it stays below 1e-6. A real bug still fails: an
error must be smaller than 1e-9 of the largest gradient to slip under the floor. The
absolute 1e-8 only matters when the whole gradient is zero.

Thresholds for the largest relative error of an array (kinks excluded):

- about 1e-10 or less: perfect, only rounding noise;
- up to 1e-6 (``DEFAULT_TOLERANCE``): fine, the check passes;
- 1e-6 to 1e-4: suspicious, e.g. a kink that was not recognised, or float32 somewhere;
- above 1e-4: almost certainly a bug.

Kinks: an entry is a kink when its forward and backward one-sided slopes (see
``numerical``) disagree by more than ``KINK_TOLERANCE`` = 1e-2 in the same relative measure.
For a smooth function they differ by about h * |f''|, i.e. around 1e-5 relative; when the
step crosses the corner of ReLU, max or abs they differ by the jump in slope, of order one.
At such an entry the centered difference averages two slopes and is no reference at all, so
the entry is left out of the verdict and counted instead.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DEFAULT_TOLERANCE",
    "KINK_TOLERANCE",
    "error_floor",
    "find_kinks",
    "relative_errors",
]

DEFAULT_TOLERANCE = 1e-6
KINK_TOLERANCE = 1e-2
FLOOR_FRACTION = 1e-3
FLOOR_ABSOLUTE = 1e-8


def error_floor(numerical: np.ndarray) -> float:
    """Return the floor of the relative error's denominator for one array.

    Parameters
    ----------
    numerical : np.ndarray
        Numerical gradient at the checked entries, any shape; non-finite values are ignored.

    Returns
    -------
    float
        ``max(1e-3 * max |numerical|, 1e-8)``.
    """
    finite = np.abs(numerical[np.isfinite(numerical)])
    largest = finite.max() if finite.size else 0.0
    return max(FLOOR_FRACTION * largest, FLOOR_ABSOLUTE)


def relative_errors(a: np.ndarray, b: np.ndarray, floor: float) -> np.ndarray:
    """Entrywise ``|a - b| / max(|a| + |b|, floor)``; inf where either value is not finite.

    Parameters
    ----------
    a, b : np.ndarray
        The two estimates, same shape (any).
    floor : float
        Smallest denominator, from :func:`error_floor`.

    Returns
    -------
    np.ndarray
        Relative errors in [0, 1] (or inf), shape of a.
    """
    with np.errstate(invalid="ignore"):
        errors = np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)
    return np.where(np.isfinite(a) & np.isfinite(b), errors, np.inf)


def find_kinks(forward: np.ndarray, backward: np.ndarray, floor: float) -> np.ndarray:
    """Flag the entries whose one-sided slopes disagree: the step crossed a kink.

    Parameters
    ----------
    forward, backward : np.ndarray
        Forward and backward difference slopes, shape (K,).
    floor : float
        Smallest denominator, from :func:`error_floor`.

    Returns
    -------
    np.ndarray
        Boolean mask, shape (K,): True where the relative disagreement exceeds 1e-2. A
        non-finite slope is never called a kink: it is a failure of its own.
    """
    disagreement = relative_errors(forward, backward, floor)
    return np.isfinite(disagreement) & (disagreement > KINK_TOLERANCE)
