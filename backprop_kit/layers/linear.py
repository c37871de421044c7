"""The fully connected (affine) layer."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.init import he_normal, xavier_uniform
from backprop_kit.layers._validate import (
    check_dtype,
    check_float_array,
    check_positive_int,
    check_upstream,
    require_shape,
)
from backprop_kit.layers.base import Layer

__all__ = ["Linear"]

_INITS = {"he": he_normal, "xavier": xavier_uniform}


class Linear(Layer):
    """Affine map ``y = x @ W + b``.

    forward:  x (N, in_features)   -> y = x @ W + b, shape (N, out_features)
    backward: dy (N, out_features) -> dx = dy @ W.T, shape (N, in_features)
              and fills grads: dW = x.T @ dy (in_features, out_features),
                               db = dy summed over the batch (out_features,)

    Each output y[n, j] = sum_i x[n, i] W[i, j] + b[j], so dL/dW[i, j] sums x[n, i] dy[n, j]
    over the batch n, dL/db[j] sums dy[n, j], and dL/dx[n, i] sums dy[n, j] W[i, j] over j.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of an input row and an output row.
    rng : np.random.Generator
        Draws the initial weights.
    init : {"he", "xavier"}, default "he"
        ``"he"``: N(0, 2 / in_features), for ReLU networks (He et al. 2015, Gaussian as in the
        paper); ``"xavier"``: U(-a, a) with variance 2 / (in + out), for tanh/sigmoid networks
        (Glorot & Bengio 2010, uniform as in the paper). The bias starts at zero. ``"he"`` is
        the default of every layer with weights (Linear, TemporalLinear, Conv2D); the
        recurrent layers draw Glorot-uniform blocks (see their docs).
    dtype : float dtype, default float64
        Dtype of W and b; inputs must have the same dtype (float32 for speed, float64 for
        gradient checking).
    input_grad : bool, default True
        If False, backward skips dx = dy @ W.T and returns None: use it for the first layer of
        a network, whose input is the data and needs no gradient. Saves one matrix product.

    Attributes
    ----------
    params : dict
        ``"W"`` (in_features, out_features) and ``"b"`` (out_features,).
    grads : dict
        Same keys and shapes, overwritten (not accumulated) by each backward.
    cache : np.ndarray
        The input batch x (N, in_features) of the last forward, kept by reference (no copy):
        do not modify it in place before calling backward.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        init: str = "he",
        dtype: DTypeLike = np.float64,
        input_grad: bool = True,
    ) -> None:
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        if init not in _INITS:
            raise ValueError(f"Linear: init must be one of {sorted(_INITS)}, got {init!r}")
        weights = _INITS[init]((self.in_features, self.out_features), rng, dtype=dtype)
        super().__init__(W=weights, b=np.zeros(self.out_features, dtype=weights.dtype))
        self.input_grad = input_grad

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute ``y = x @ W + b``.

        Parameters
        ----------
        x : np.ndarray
            Shape (N, in_features), dtype of the layer's parameters.

        Returns
        -------
        np.ndarray
            Shape (N, out_features).
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        require_shape(x, ("N", self.in_features), "x", where)
        check_dtype(x, self.params["W"].dtype, "x", where)
        y = x @ self.params["W"]
        y += self.params["b"]  # in place: y is our own fresh array
        self.cache = x
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Fill ``grads`` with dW, db and return dx (None if ``input_grad`` is False).

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, out_features).

        Returns
        -------
        np.ndarray or None
            dL/dx, shape (N, in_features).
        """
        x = self._cached()
        where = f"{self!r}.backward"
        dy = check_upstream(dy, (x.shape[0], self.out_features), x.dtype, "dy", where)
        np.matmul(x.T, dy, out=self.grads["W"])
        np.sum(dy, axis=0, out=self.grads["b"])
        if not self.input_grad:
            return None
        return dy @ self.params["W"].T

    def __repr__(self) -> str:
        return f"Linear({self.in_features} -> {self.out_features})"
