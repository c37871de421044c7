"""Flatten: from the (N, C, H, W) maps of a convolutional network to the (N, D) rows of Linear."""

from __future__ import annotations

import math

import numpy as np

from backprop_kit.layers._validate import check_float_array, check_upstream
from backprop_kit.layers.base import Layer

__all__ = ["Flatten"]


class Flatten(Layer):
    """Keep the batch axis and merge all the others, in C order.

    forward:  x (N, d1, d2, ...) -> y = x.reshape(N, d1 * d2 * ...)
    backward: dy (N, d1 * d2 * ...) -> dx = dy.reshape(N, d1, d2, ...), in x's dtype

    A reshape moves no number, so its gradient is the same reshape run backwards: entry
    y[n, k] *is* one entry of x, and dL/dx at that entry is dy[n, k].

    Attributes
    ----------
    cache : tuple
        The shape and the dtype of the last forward's input (those of dx).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return x as (N, prod of the other sizes); a view when x is contiguous."""
        where = "Flatten.forward"
        check_float_array(x, "x", where)
        if x.ndim < 2:
            raise ValueError(
                f"{where}: x must have a batch axis and at least one more, shape (N, ...), "
                f"got {tuple(x.shape)}"
            )
        self.cache = (x.shape, x.dtype)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: N may be 0

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return dy reshaped to the input shape (N, d1, d2, ...)."""
        x_shape, x_dtype = self._cached()
        where = "Flatten.backward"
        dy = check_upstream(dy, (x_shape[0], math.prod(x_shape[1:])), x_dtype, "dy", where)
        return dy.reshape(x_shape)
