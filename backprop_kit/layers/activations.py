"""Elementwise activation functions: no parameters, output shape = input shape.

Each forward caches the one array its derivative is cheapest from, and each backward is the
chain rule ``dx = dy * f'(x)`` written with that cached array. Inputs of any shape and any
floating dtype are accepted; the output keeps the input's dtype, and so does dx (dy is taken in
that dtype first). No forward modifies its input.
"""

from __future__ import annotations

import numpy as np

from backprop_kit.layers._validate import check_float_array, check_like
from backprop_kit.layers.base import Layer

__all__ = ["LeakyReLU", "ReLU", "Sigmoid", "Tanh"]


class ReLU(Layer):
    """Rectified linear unit, ``y = max(x, 0)``.

    forward:  x (any shape)        -> y = max(x, 0), same shape
    backward: dy (same shape as y) -> dx = dy * (y > 0)

    x > 0 exactly where y > 0, so the output is all backward needs. The derivative at exactly
    x = 0 is taken as 0 (as in PyTorch).

    Attributes
    ----------
    cache : np.ndarray
        The output y of the last forward, shape and dtype of x.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return ``max(x, 0)``, shape and dtype of x."""
        check_float_array(x, "x", "ReLU.forward")
        y = np.maximum(x, 0)
        self.cache = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dy * (y > 0)``, shape of dy."""
        y = self._cached()
        dy = check_like(dy, y, "dy", "ReLU.backward")
        return dy * (y > 0)


class LeakyReLU(Layer):
    """Leaky ReLU, ``y = x`` for x > 0 and ``y = slope * x`` otherwise.

    forward:  x (any shape)        -> y = where(x > 0, x, slope * x), same shape
    backward: dy (same shape as y) -> dx = dy * where(x > 0, 1, slope)

    Parameters
    ----------
    slope : float, default 0.01
        Gradient for negative inputs, in [0, 1); 0 gives the plain ReLU.

    Attributes
    ----------
    cache : np.ndarray
        The local derivative ``where(x > 0, 1, slope)`` of the last forward, shape and dtype
        of x; forward and backward both multiply by it.
    """

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        if not (isinstance(slope, int | float) and 0 <= slope < 1):
            raise ValueError(f"LeakyReLU: slope must be a number in [0, 1), got {slope!r}")
        self.slope = float(slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return ``where(x > 0, x, slope * x)``, shape and dtype of x."""
        check_float_array(x, "x", f"{self!r}.forward")
        local_grad = np.where(x > 0, x.dtype.type(1), x.dtype.type(self.slope))
        self.cache = local_grad
        return x * local_grad

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dy * where(x > 0, 1, slope)``, shape of dy."""
        local_grad = self._cached()
        dy = check_like(dy, local_grad, "dy", f"{self!r}.backward")
        return dy * local_grad

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"


class Sigmoid(Layer):
    """Logistic sigmoid, ``y = 1 / (1 + exp(-x))``.

    forward:  x (any shape)        -> y = sigmoid(x), same shape, values in [0, 1]
    backward: dy (same shape as y) -> dx = dy * y * (1 - y)

    The forward never overflows: with ``e = exp(-|x|)``, which lies in (0, 1],
    sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0. Both are the same function
    (multiply the textbook formula by exp(x) / exp(x) for x < 0), and neither exponentiates a
    large positive number, so x = +-1000 gives 1 and 0 without a warning.

    Attributes
    ----------
    cache : np.ndarray
        The output y of the last forward (sigmoid' is cheapest from the output).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return ``sigmoid(x)``, shape and dtype of x."""
        check_float_array(x, "x", "Sigmoid.forward")
        e = np.abs(x)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e = exp(-|x|), computed in one buffer
        numerator = np.where(x < 0, e, x.dtype.type(1))
        y = np.add(e, 1)
        np.divide(numerator, y, out=y)
        self.cache = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dy * y * (1 - y)``, shape of dy."""
        y = self._cached()
        dy = check_like(dy, y, "dy", "Sigmoid.backward")
        return dy * y * (1 - y)


class Tanh(Layer):
    """Hyperbolic tangent, ``y = tanh(x)``.

    forward:  x (any shape)        -> y = tanh(x), same shape, values in [-1, 1]
    backward: dy (same shape as y) -> dx = dy * (1 - y**2)

    Attributes
    ----------
    cache : np.ndarray
        The output y of the last forward (tanh' is cheapest from the output).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return ``tanh(x)``, shape and dtype of x."""
        check_float_array(x, "x", "Tanh.forward")
        y = np.tanh(x)
        self.cache = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dy * (1 - y**2)``, shape of dy."""
        y = self._cached()
        dy = check_like(dy, y, "dy", "Tanh.backward")
        return dy * (1 - y * y)

