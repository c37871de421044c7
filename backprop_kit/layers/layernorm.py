"""Layer normalization (Ba, Kiros & Hinton 2016): each vector normalized over its own features.

Batch normalization (``batchnorm``) normalizes every feature over the batch; layer
normalization turns this around and normalizes every position's vector x (the last axis, D
features) with its own mean and variance, then scales and shifts it by two learned vectors:

    mu = mean(x),  var = mean((x - mu)**2),  s = 1 / sqrt(var + eps)   (over the last axis)
    x_hat = (x - mu) * s,  y = gamma * x_hat + beta

No statistic is shared between positions or examples, so the layer behaves the same in
training and evaluation and works for a batch of one: what transformers need (Vaswani et al.
2017 put it after each residual branch; the "pre-LN" block of :mod:`transformer` puts it at
the start of each branch, Xiong et al. 2020).

The backward pass in its compact form
-------------------------------------
For one vector, x_hat_j depends on every x_i through mu and s. With ``dmu/dx_i = 1/D`` and
``ds/dx_i = -s**2 x_hat_i / D``,

    dx_hat_j / dx_i = s (delta_ij - 1/D) - s x_hat_i x_hat_j / D.

Write g = gamma * dy for the gradient reaching x_hat. Summing g_j times this over j gives

    dx_i = s (g_i - mean_j(g_j) - x_hat_i mean_j(g_j x_hat_j)),

the batch-norm formula with the roles of the axes swapped: the means run over the D features of
one vector, not over the batch. The two subtracted terms are the parts of g that the
normalization cannot pass on (a shift of the whole vector, which mu removes, and a scaling,
which s removes), so every dx vector sums to zero and is orthogonal to x_hat. gamma and beta
are shared by all positions: dgamma = sum of dy * x_hat and dbeta = sum of dy over every axis
but the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.layers._validate import (
    check_dtype,
    check_float_array,
    check_positive_int,
    check_upstream,
)
from backprop_kit.layers.base import Layer

__all__ = ["LayerNorm", "LayerNormCache"]


@dataclass
class LayerNormCache:
    """What :class:`LayerNorm` keeps between forward and backward.

    Attributes
    ----------
    x_hat : np.ndarray
        The normalized input (x - mu) * s, shape of x, (..., D).
    inv_std : np.ndarray
        s = 1 / sqrt(var + eps) of every vector, shape (..., 1): x's shape with the last axis 1.
    """

    x_hat: np.ndarray
    inv_std: np.ndarray


class LayerNorm(Layer):
    """Normalize every vector over its last axis, then scale by gamma and shift by beta.

    forward:  x (..., D)  -> y = gamma * x_hat + beta, shape of x,
              x_hat = (x - mean(x)) / sqrt(var(x) + eps) over the last axis
    backward: dy (..., D) -> dx = s * (g - mean(g) - x_hat * mean(g * x_hat)) with g = gamma * dy
              (means over the last axis), shape of x; fills grads
              dgamma = sum of dy * x_hat and dbeta = sum of dy over all leading axes, (D,)

    Any number of leading axes: (N, D) rows, (N, T, D) sequences. The variance is the biased
    one (divided by D), as in Ba et al. and PyTorch's ``nn.LayerNorm``; there are no running
    statistics, so training and evaluation mode compute the same thing.

    Parameters
    ----------
    dim : int
        D, the size of the last axis.
    eps : float, default 1e-5
        Added to the variance before the square root, >= 0.
    dtype : float dtype, default float64
        Dtype of gamma and beta; inputs must have it.

    Attributes
    ----------
    params : dict
        ``"gamma"`` (D,), starts at 1, and ``"beta"`` (D,), starts at 0.
    grads : dict
        Same keys and shapes, overwritten by each backward.
    cache : LayerNormCache
        x_hat (..., D) and s (..., 1) of the last forward.
    """

    def __init__(self, dim: int, *, eps: float = 1e-5, dtype: DTypeLike = np.float64) -> None:
        self.dim = check_positive_int(dim, "dim", "LayerNorm")
        ok = isinstance(eps, int | float) and not isinstance(eps, bool) and np.isfinite(eps)
        if not (ok and eps >= 0):
            raise ValueError(f"LayerNorm: eps must be a finite number >= 0, got {eps!r}")
        self.eps = float(eps)
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(f"LayerNorm: dtype must be a floating-point dtype, got "
                            f"{np.dtype(dtype)}")
        super().__init__(gamma=np.ones(self.dim, dtype=dtype), beta=np.zeros(self.dim, dtype=dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalize every vector of x over its last axis, then scale and shift.

        Parameters
        ----------
        x : np.ndarray
            Shape (..., D), at least 1-D; dtype of the layer.

        Returns
        -------
        np.ndarray
            y = gamma * x_hat + beta, shape of x.
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"{where}: x must have shape (..., {self.dim}), got {tuple(x.shape)}")
        check_dtype(x, self.params["gamma"].dtype, "x", where)
        centred = x - x.mean(axis=-1, keepdims=True)
        var = np.mean(centred * centred, axis=-1, keepdims=True)
        inv_std = 1 / np.sqrt(var + self.eps)
        x_hat = centred * inv_std
        self.cache = LayerNormCache(x_hat=x_hat, inv_std=inv_std)
        return self.params["gamma"] * x_hat + self.params["beta"]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Fill ``grads`` with dgamma, dbeta and return dx (the compact form, see the module).

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape of the forward's input (..., D).

        Returns
        -------
        np.ndarray
            dL/dx, shape of dy.
        """
        cache = self._cached()
        where = f"{self!r}.backward"
        x_hat = cache.x_hat
        dy = check_upstream(dy, x_hat.shape, x_hat.dtype, "dy", where)
        leading = tuple(range(dy.ndim - 1))
        np.sum(dy * x_hat, axis=leading, out=self.grads["gamma"])
        np.sum(dy, axis=leading, out=self.grads["beta"])
        g = dy * self.params["gamma"]  # the gradient reaching x_hat
        removed = g.mean(axis=-1, keepdims=True) + x_hat * np.mean(g * x_hat, axis=-1,
                                                                    keepdims=True)
        return cache.inv_std * (g - removed)

    def __repr__(self) -> str:
        return f"LayerNorm({self.dim})"
