"""Gradient clipping: keep one exploding step from throwing the parameters far away.

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural networks":
a recurrent net's loss surface has cliffs, where the gradient is huge and points across the
cliff; a plain step there lands anywhere. Rescaling the gradient when its norm exceeds a
threshold keeps its direction and bounds the step::

    if ||g|| > max_norm:  g <- (max_norm / ||g||) g

with ||g|| the L2 norm of *all* gradients together, as if they were one long vector. The
paper picks the threshold from the average gradient norm seen in training and reports that
values from half to ten times that average still converge. Clipping each entry to
[-limit, limit] (:func:`clip_grad_value`) is the cruder alternative: it changes the direction.

Both functions work in place on the gradient arrays, so call them between ``backward`` and
the optimizer's ``step``::

    clip_grad_norm([grad for _, grad in model.parameters()], max_norm=5.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["clip_grad_norm", "clip_grad_value", "global_norm"]


_HOW = "pass the gradient arrays, e.g. [grad for _, grad in model.parameters()]"


def _gradient_list(grads: Iterable[np.ndarray], where: str) -> list[np.ndarray]:
    """The gradients as a list of floating-point arrays (an iterator is consumed once)."""
    if isinstance(grads, np.ndarray):
        raise TypeError(f"{where}: got a single array; {_HOW}")
    arrays = list(grads)
    for index, grad in enumerate(arrays):
        if not isinstance(grad, np.ndarray) or not np.issubdtype(grad.dtype, np.floating):
            got = f"dtype {grad.dtype}" if isinstance(grad, np.ndarray) else type(grad).__name__
            raise TypeError(
                f"{where}: gradient {index} must be a floating-point numpy array, got {got}; "
                f"{_HOW}"
            )
    return arrays


def _positive(value: object, name: str, where: str) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise ValueError(f"{where}: {name} must be a positive finite number, got {value!r}")
    return float(value)


def global_norm(grads: Iterable[np.ndarray]) -> float:
    """The L2 norm of all gradients taken together, sqrt(sum over arrays of sum(g**2)).

    Parameters
    ----------
    grads : iterable of np.ndarray
        Floating-point arrays of any shapes.

    Returns
    -------
    float
        The norm, accumulated in float64 (so float32 gradients do not overflow).
    """
    arrays = _gradient_list(grads, "global_norm")
    squares = 0.0
    for grad in arrays:
        wide = np.asarray(grad, dtype=np.float64)  # no copy for float64 gradients
        squares += float(np.vdot(wide, wide))
    return math.sqrt(squares)


def clip_grad_norm(grads: Iterable[np.ndarray], max_norm: float) -> float:
    """Rescale all gradients in place so that their global L2 norm is at most ``max_norm``.

    When the norm ||g|| of all gradients together exceeds ``max_norm``, every array is
    multiplied by ``max_norm / ||g||``: the direction is kept and the norm becomes
    ``max_norm``. Otherwise nothing changes. (Pascanu et al. 2013, see the module docstring.)

    Parameters
    ----------
    grads : iterable of np.ndarray
        The gradient arrays, any shapes; modified in place.
    max_norm : float
        The threshold, > 0.

    Returns
    -------
    float
        The global norm *before* clipping (worth logging: it is how one picks the threshold).

    Raises
    ------
    FloatingPointError
        If the norm is inf or nan: the gradients have already overflowed, and scaling them
        would turn every entry into nan.
    """
    where = "clip_grad_norm"
    max_norm = _positive(max_norm, "max_norm", where)
    arrays = _gradient_list(grads, where)
    norm = global_norm(arrays)
    if not math.isfinite(norm):
        raise FloatingPointError(
            f"{where}: the gradient norm is {norm}: the gradients overflowed before clipping "
            "(lower the learning rate, or look for an exploding forward pass)"
        )
    if norm > max_norm:
        scale = max_norm / norm
        for grad in arrays:
            grad *= scale
    return norm


def clip_grad_value(grads: Iterable[np.ndarray], limit: float) -> None:
    """Clip every gradient entry to [-limit, limit], in place (this can change the direction).

    Parameters
    ----------
    grads : iterable of np.ndarray
        The gradient arrays, any shapes; modified in place.
    limit : float
        The bound, > 0.
    """
    where = "clip_grad_value"
    limit = _positive(limit, "limit", where)
    for grad in _gradient_list(grads, where):
        np.clip(grad, -limit, limit, out=grad)
