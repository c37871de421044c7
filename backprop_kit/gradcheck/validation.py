"""Input checks of the gradient checker: float64 arrays only, and a sensible step size.

Why float64 and nothing else: a centered difference divides a difference of two nearly equal
function values by 2h. In float32 each value carries a rounding error of about 6e-8 of its
size, so with h = 1e-5 the estimate is wrong by about 1e-3 relative - larger than the bugs
we want to find. In float64 the same error is about 1e-11. Casting a float32 array to float64
here would not help either, because the code under test would still compute in float32
wherever it creates its own arrays; so we refuse and ask for float64 data. Integer arrays
cannot be perturbed by h at all.
"""

from __future__ import annotations

import numpy as np

__all__ = ["require_float64", "require_step"]


def require_float64(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a float64 array, or raise TypeError naming ``name``.

    Parameters
    ----------
    value : object
        A float64 ``np.ndarray`` (any shape; returned as is, no copy) or a Python ``float``
        (returned as a new 0-d float64 array, which is exactly the same number).
    name : str
        The argument's name, used in the message (e.g. ``"x"`` or ``"W"``).

    Returns
    -------
    np.ndarray
        ``value`` itself when it is already a float64 array, shape unchanged.
    """
    if isinstance(value, float):
        return np.array(value, dtype=np.float64)
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"gradient checking needs float64 arrays; {name!r} is a {type(value).__name__}. "
            f"Use np.asarray({name}, dtype=np.float64)"
        )
    if value.dtype != np.float64:
        raise TypeError(
            f"gradient checking needs float64 arrays; {name!r} is {value.dtype}. "
            f"Use {name}.astype(np.float64)"
        )
    return value


def require_step(h: object) -> float:
    """Return the finite-difference step ``h`` as a float, or raise ValueError.

    Parameters
    ----------
    h : object
        The step; must be a real number with 0 < h < 1 (1e-5 suits float64: smaller steps
        amplify rounding, larger steps add truncation error and cross more kinks).

    Returns
    -------
    float
        ``h`` as a Python float.
    """
    if isinstance(h, bool) or not isinstance(h, int | float | np.floating) or not 0 < h < 1:
        raise ValueError(f"the step h must be a number with 0 < h < 1 (e.g. 1e-5), got {h!r}")
    return float(h)
