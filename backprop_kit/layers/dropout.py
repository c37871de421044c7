"""Inverted dropout (Srivastava et al. 2014, with the rescaling done at training time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.layers._validate import check_float_array, check_upstream
from backprop_kit.layers.base import Layer

__all__ = ["Dropout", "DropoutCache"]


@dataclass
class DropoutCache:
    """What :class:`Dropout` keeps between forward and backward.

    Attributes
    ----------
    shape : tuple of int
        Shape of the last forward's input (and output).
    dtype : np.dtype
        Dtype of the last forward's input (and output), that of dx.
    mask : np.ndarray or None
        The scaled mask, entries 0 or 1 / (1 - p), dtype of x; None if the forward ran in eval
        mode, where the layer is the identity.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    mask: np.ndarray | None


class Dropout(Layer):
    """Zero each entry with probability p while training; scale the survivors by 1 / (1 - p).

    forward (training): x (any shape) -> y = x * mask, mask = keep / (1 - p),
                        keep[i] ~ Bernoulli(1 - p) drawn fresh each forward
    forward (eval):     x -> y = x (the same array, no copy)
    backward:           dy (shape of y) -> dx = dy * mask (training), dy (eval), in x's dtype

    Scaling at training time keeps E[y] = x, so evaluation needs no rescaling: switching the
    layer to eval mode (``layer.eval()``) simply turns it into the identity.

    Parameters
    ----------
    p : float
        Drop probability, in [0, 1).
    rng : np.random.Generator
        Draws the masks.

    Attributes
    ----------
    cache : DropoutCache
        The input shape and the scaled mask of the last forward.
    """

    def __init__(self, p: float, *, rng: np.random.Generator) -> None:
        super().__init__()
        if not (isinstance(p, int | float) and 0 <= p < 1):
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"Dropout: rng must be a np.random.Generator (e.g. np.random.default_rng(0)), "
                f"got {type(rng).__name__}"
            )
        self.p = float(p)
        self.rng = rng

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return x with dropped entries zeroed and the rest scaled (training), else x."""
        check_float_array(x, "x", f"{self!r}.forward")
        if not self.training:
            self.cache = DropoutCache(shape=x.shape, dtype=x.dtype, mask=None)
            return x
        draw_dtype = np.float32 if x.dtype == np.float32 else np.float64  # what rng.random offers
        uniform = self.rng.random(x.shape, dtype=draw_dtype)
        mask = (uniform >= self.p).astype(x.dtype)  # keep with probability 1 - p
        mask *= 1 / (1 - self.p)
        self.cache = DropoutCache(shape=x.shape, dtype=x.dtype, mask=mask)
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dy * mask``, shape of dy (dy itself in eval mode), dtype of x."""
        cache = self._cached()
        dy = check_upstream(dy, cache.shape, cache.dtype, "dy", f"{self!r}.backward")
        return dy if cache.mask is None else dy * cache.mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
