"""Finite differences: the numerical gradients that analytic ones are checked against.

For one entry ``x[i]`` and a small step ``h`` three slopes are measured:

- centered:  (f(x + h e_i) - f(x - h e_i)) / 2h   error O(h^2): the numerical gradient;
- forward:   (f(x + h e_i) - f(x))         / h    error O(h);
- backward:  (f(x)         - f(x - h e_i)) / h    error O(h).

The two one-sided slopes are only used to recognise kinks (see
``relative_error.find_kinks``): where f is smooth they differ by about h * f'', where the step
crosses a kink of ReLU, max or abs they differ by the jump in slope, a number of order one.

The entries are perturbed *in place*, one at a time, and each is put back to its original
value (the saved number itself, not ``x + h - h``, which can differ in the last bit), also when
``f`` raises. So ``f`` may read ``x`` through any reference it holds - a layer's ``params``,
a closure - and the caller's array is unchanged afterwards.

All arrays must be float64; a float32 or integer array raises TypeError (see
``validation.require_float64`` for why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from backprop_kit.gradcheck.validation import require_float64, require_step

__all__ = ["FiniteDifferences", "finite_differences", "numerical_gradient", "numerical_vjp"]

DEFAULT_STEP = 1e-5


@dataclass(frozen=True)
class FiniteDifferences:
    """The three slopes measured at a list of entries.

    Attributes
    ----------
    indices : list of tuple of int
        The entries of x that were perturbed, K of them.
    centered, forward, backward : np.ndarray
        Shape (K,): the centered, forward and backward slopes at those entries.
    """

    indices: list[tuple[int, ...]]
    centered: np.ndarray
    forward: np.ndarray
    backward: np.ndarray


def _call_scalar(f: Callable[[np.ndarray], float], x: np.ndarray) -> float:
    """Return ``f(x)`` as a float, or raise ValueError if f does not return one number."""
    value = np.asarray(f(x))
    if value.size != 1:
        raise ValueError(
            f"the function must return a single number (a scalar), got an array of shape "
            f"{value.shape}; for an array-valued function use numerical_vjp"
        )
    return float(value.reshape(()))


def finite_differences(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    indices: Sequence[tuple[int, ...]],
    *,
    h: float = DEFAULT_STEP,
) -> FiniteDifferences:
    """Measure centered, forward and backward slopes of a scalar function at chosen entries.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. It is called with ``x`` itself while one entry is perturbed.
    x : np.ndarray
        Float64 array of any shape, writable; perturbed in place and restored exactly.
    indices : sequence of tuple of int
        K entries of x to perturb, each a full index such as ``(2, 0)``.
    h : float, default 1e-5
        Step size.

    Returns
    -------
    FiniteDifferences
        The three slopes, each of shape (K,), in the order of ``indices``.
    """
    require_float64(x, "x")
    if not x.flags.writeable:
        raise ValueError("x is read-only, but finite differences perturb it in place; pass a copy")
    h = require_step(h)
    indices = [tuple(index) for index in indices]
    f_at_x = _call_scalar(f, x)
    f_plus = np.empty(len(indices))
    f_minus = np.empty(len(indices))
    for k, index in enumerate(indices):
        original = float(x[index])  # exact: a float64 is a Python float
        try:
            x[index] = original + h
            f_plus[k] = _call_scalar(f, x)
            x[index] = original - h
            f_minus[k] = _call_scalar(f, x)
        finally:
            x[index] = original
    return FiniteDifferences(
        indices=indices,
        centered=(f_plus - f_minus) / (2 * h),
        forward=(f_plus - f_at_x) / h,
        backward=(f_at_x - f_minus) / h,
    )


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, *, h: float = DEFAULT_STEP
) -> np.ndarray:
    """Centered-difference gradient of a scalar function.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / 2h`` for every entry i of x.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``, a scalar function of the whole array.
    x : np.ndarray
        Float64 array of any shape; perturbed in place during the call and restored exactly.
    h : float, default 1e-5
        Step size.

    Returns
    -------
    np.ndarray
        The numerical gradient df/dx, shape of x, float64.

    Raises
    ------
    TypeError
        If x is not a float64 array.
    """
    x = require_float64(x, "x")
    differences = finite_differences(f, x, list(np.ndindex(x.shape)), h=h)
    return differences.centered.reshape(x.shape)


def numerical_vjp(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dy: np.ndarray,
    *,
    h: float = DEFAULT_STEP,
) -> np.ndarray:
    """Numerical vector-Jacobian product: the gradient of ``sum(dy * f(x))`` with respect to x.

    This is what a backward pass computes when the upstream gradient is ``dy``; checking it
    with a random ``dy`` (not all ones) tests every output's contribution with its own weight.

    Parameters
    ----------
    f : callable
        ``f(x) -> y``, an array-valued function; y has the shape of dy.
    x : np.ndarray
        Float64 array of any shape; perturbed in place during the call and restored exactly.
    dy : np.ndarray
        Float64 upstream gradient, shape of ``f(x)``.
    h : float, default 1e-5
        Step size.

    Returns
    -------
    np.ndarray
        ``dy^T J``, the gradient of ``sum(dy * f(x))`` with respect to x, shape of x.

    Raises
    ------
    TypeError
        If x or dy is not a float64 array.
    ValueError
        If dy does not have the shape of ``f(x)``.
    """
    x = require_float64(x, "x")
    dy = require_float64(dy, "dy")
    y_shape = np.shape(f(x))
    if dy.shape != y_shape:
        raise ValueError(f"dy must have the shape of f(x) {y_shape}, got {dy.shape}")
    return numerical_gradient(lambda arr: np.sum(dy * f(arr)), x, h=h)
