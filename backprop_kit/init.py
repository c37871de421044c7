"""Weight initialisation schemes that keep activations and gradients at a steady scale.

For a weight used as ``y = x @ W`` with ``W`` of shape (fan_in, fan_out):

- Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
  networks": Var(W) = 2 / (fan_in + fan_out), a compromise between keeping the forward and the
  backward signal variance constant (derived for tanh-like units near 0).
- He, Zhang, Ren & Sun (2015), "Delving deep into rectifiers": Var(W) = 2 / fan_in, because a
  ReLU zeroes half of its inputs and so halves the second moment.

A uniform distribution on [-a, a] has variance a**2 / 3, so the uniform variants use
a = sqrt(3 * Var). Every function takes the ``np.random.Generator`` to draw from: seed it once
(``np.random.default_rng(0)``) and the whole network is reproducible.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["he_normal", "he_uniform", "xavier_normal", "xavier_uniform"]


def _fan(shape: tuple[int, ...], axis: int, given: int | None, name: str) -> int:
    """Return ``given``, or read the fan off a 2-D (fan_in, fan_out) shape at ``axis``."""
    if given is None:
        if len(shape) != 2:
            raise ValueError(
                f"{name} can only be inferred from a 2-D shape (fan_in, fan_out), got shape "
                f"{shape}; pass {name}= explicitly"
            )
        given = shape[axis]
    if given < 1:
        raise ValueError(f"{name} must be positive, got {given}")
    return given


def _draw(
    kind: str, shape: tuple[int, ...], variance: float, rng: np.random.Generator, dtype
) -> np.ndarray:
    """Draw zero-mean ``kind`` ("normal" or "uniform") samples with the given variance.

    Draws in float64 and then casts, so a seed gives the same weights in every dtype.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a np.random.Generator (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be a floating-point dtype, got {np.dtype(dtype)}")
    if kind == "normal":
        weights = rng.normal(0.0, np.sqrt(variance), size=shape)
    else:
        bound = np.sqrt(3.0 * variance)
        weights = rng.uniform(-bound, bound, size=shape)
    return weights.astype(dtype, copy=False)


def xavier_uniform(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    fan_in: int | None = None,
    fan_out: int | None = None,
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).

    Parameters
    ----------
    shape : tuple of int
        Shape of the weight array; a 2-D shape is read as (fan_in, fan_out).
    rng : np.random.Generator
        Source of randomness.
    fan_in, fan_out : int, optional
        Required for shapes that are not 2-D (e.g. a conv kernel).
    dtype : dtype, default float64

    Returns
    -------
    np.ndarray
        Shape ``shape``, variance 2 / (fan_in + fan_out).
    """
    shape = tuple(shape)
    fan_in = _fan(shape, 0, fan_in, "fan_in")
    fan_out = _fan(shape, 1, fan_out, "fan_out")
    return _draw("uniform", shape, 2.0 / (fan_in + fan_out), rng, dtype)


def xavier_normal(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    fan_in: int | None = None,
    fan_out: int | None = None,
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """Glorot/Xavier normal: N(0, 2 / (fan_in + fan_out)).

    Parameters and return value as in :func:`xavier_uniform`.
    """
    shape = tuple(shape)
    fan_in = _fan(shape, 0, fan_in, "fan_in")
    fan_out = _fan(shape, 1, fan_out, "fan_out")
    return _draw("normal", shape, 2.0 / (fan_in + fan_out), rng, dtype)


def he_uniform(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    fan_in: int | None = None,
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """He/Kaiming uniform for ReLU networks: U(-a, a) with a = sqrt(6 / fan_in).

    Parameters
    ----------
    shape : tuple of int
        Shape of the weight array; a 2-D shape is read as (fan_in, fan_out).
    rng : np.random.Generator
        Source of randomness.
    fan_in : int, optional
        Required for shapes that are not 2-D.
    dtype : dtype, default float64

    Returns
    -------
    np.ndarray
        Shape ``shape``, variance 2 / fan_in.
    """
    shape = tuple(shape)
    return _draw("uniform", shape, 2.0 / _fan(shape, 0, fan_in, "fan_in"), rng, dtype)


def he_normal(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    fan_in: int | None = None,
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """He/Kaiming normal for ReLU networks: N(0, 2 / fan_in).

    Parameters and return value as in :func:`he_uniform`.
    """
    shape = tuple(shape)
    return _draw("normal", shape, 2.0 / _fan(shape, 0, fan_in, "fan_in"), rng, dtype)
