"""Batch normalization (Ioffe & Szegedy 2015), for dense (N, C) and image (N, C, H, W) batches.

Every feature (channel) c is normalized over the m values it takes in the batch - the N rows of
a dense batch, or the N * H * W pixels of an image batch - and then scaled and shifted by two
learned numbers:

    mu = mean(x),  var = mean((x - mu)**2),  s = 1 / sqrt(var + eps)
    x_hat = (x - mu) * s,  y = gamma * x_hat + beta

The backward pass in its compact form
-------------------------------------
The batch statistics depend on every input, so each x_i reaches every output y_j. With
``dmu/dx_i = 1/m`` and ``dvar/dx_i = 2 (x_i - mu) / m``, hence ``ds/dx_i = -s**2 x_hat_i / m``,

    dx_hat_j / dx_i = s (delta_ij - 1/m) - s x_hat_i x_hat_j / m.

Summing ``gamma dy_j`` times this over j gives

    dx_i = gamma s (dy_i - mean_j(dy_j) - x_hat_i mean_j(dy_j x_hat_j))
         = gamma s (dy_i - (dbeta + x_hat_i dgamma) / m),

with ``dbeta = sum_j dy_j`` and ``dgamma = sum_j dy_j x_hat_j``, the parameter gradients
themselves. So one pass computes dgamma and dbeta and a second, fused elementwise expression
gives dx; nothing of the chain through mu and var needs to be stored. The two subtracted terms
are the parts of dy that the normalization cannot pass on: a shift of all x_i (which mu removes)
and a scaling of x_hat (which s removes). Hence sum_i dx_i = 0 and sum_i dx_i x_hat_i = 0.

In evaluation mode mu and var are the running estimates, constants, so the layer is an affine
map per feature and ``dx = gamma s dy``.
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
    require_shape,
)
from backprop_kit.layers.base import Layer

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNormCache"]


@dataclass
class BatchNormCache:
    """What a batch-norm layer keeps between forward and backward.

    Attributes
    ----------
    x_hat : np.ndarray
        The normalized input (x - mu) * s, shape of x.
    inv_std : np.ndarray
        s = 1 / sqrt(var + eps) per feature, shaped to broadcast against x: (1, C) for a dense
        batch, (1, C, 1, 1) for an image batch.
    batch_statistics : bool
        True if mu and var were this batch's own (training mode): then backward includes the
        gradient through them. False if they were the running estimates (evaluation mode).
    """

    x_hat: np.ndarray
    inv_std: np.ndarray
    batch_statistics: bool


def _check_number(value: object, name: str, where: str, *, at_most: float | None) -> float:
    """``value`` as a float if it is a finite real number >= 0 (and <= ``at_most``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and value >= 0 and (at_most is None or value <= at_most)
    if not ok:
        allowed = ">= 0" if at_most is None else f"in [0, {at_most:g}]"
        raise ValueError(f"{where}: {name} must be a finite number {allowed}, got {value!r}")
    return float(value)


class _BatchNorm(Layer):
    """Shared code of :class:`BatchNorm1d` and :class:`BatchNorm2d`: axis 1 holds the features.

    Subclasses only name the axes after the feature axis (``_trailing_axes``); statistics are
    taken over every other axis.
    """

    _trailing_axes: tuple[str, ...] = ()

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.1,
        eps: float = 1e-5,
        dtype: DTypeLike = np.float64,
    ) -> None:
        where = type(self).__name__
        self.num_features = check_positive_int(num_features, "num_features", where)
        self.momentum = _check_number(momentum, "momentum", where, at_most=1.0)
        self.eps = _check_number(eps, "eps", where, at_most=None)
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(f"{where}: dtype must be a floating-point dtype, got {np.dtype(dtype)}")
        super().__init__(
            gamma=np.ones(self.num_features, dtype=dtype),
            beta=np.zeros(self.num_features, dtype=dtype),
        )
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)
        n_trailing = len(self._trailing_axes)
        self._reduce_axes = (0, *range(2, 2 + n_trailing))
        self._feature_shape = (1, self.num_features) + (1,) * n_trailing

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """``running_mean`` and ``running_var`` (C,), the arrays themselves (not copies)."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def _per_feature(self, values: np.ndarray) -> np.ndarray:
        """A (C,) array reshaped to broadcast against the input: (1, C) or (1, C, 1, 1)."""
        return values.reshape(self._feature_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalize every feature, then scale by gamma and shift by beta.

        Training mode uses the batch's own mean and (biased) variance and updates the running
        estimates; evaluation mode uses the running estimates.

        Parameters
        ----------
        x : np.ndarray
            Shape (N, C) for BatchNorm1d, (N, C, H, W) for BatchNorm2d; dtype of the layer.

        Returns
        -------
        np.ndarray
            y = gamma * x_hat + beta, shape of x.
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        require_shape(x, ("N", self.num_features, *self._trailing_axes), "x", where)
        check_dtype(x, self.params["gamma"].dtype, "x", where)
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(
                    f"{where}: training mode needs at least 2 values per feature to estimate a "
                    f"variance, got {count} (input shape {x.shape}); use a larger batch, or "
                    "call eval() to normalize with the running estimates"
                )
            mean = x.mean(axis=self._reduce_axes)
            centred = x - self._per_feature(mean)
            var = np.mean(centred * centred, axis=self._reduce_axes)
            self._update_running_estimates(mean, var * (count / (count - 1)))
        else:
            centred = x - self._per_feature(self.running_mean)
            var = self.running_var
        inv_std = self._per_feature(1 / np.sqrt(var + self.eps))
        x_hat = centred * inv_std
        self.cache = BatchNormCache(x_hat=x_hat, inv_std=inv_std, batch_statistics=self.training)
        return self._per_feature(self.params["gamma"]) * x_hat + self._per_feature(
            self.params["beta"]
        )

    def _update_running_estimates(self, mean: np.ndarray, unbiased_var: np.ndarray) -> None:
        """running = (1 - momentum) * running + momentum * batch, in place.

        The variance uses the unbiased batch estimate m / (m - 1) * var, as in Ioffe & Szegedy's
        Algorithm 2 (and PyTorch); the normalization itself uses the biased one.
        """
        for running, batch in ((self.running_mean, mean), (self.running_var, unbiased_var)):
            running *= 1 - self.momentum
            running += self.momentum * batch

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Fill ``grads`` with dgamma, dbeta and return dx (the compact form, see the module).

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape of the forward's input.

        Returns
        -------
        np.ndarray
            dL/dx, shape of dy: ``gamma s (dy - (dbeta + x_hat dgamma) / m)`` after a training
            forward, ``gamma s dy`` after an evaluation forward.
        """
        cache = self._cached()
        where = f"{self!r}.backward"
        dy = check_upstream(dy, cache.x_hat.shape, cache.x_hat.dtype, "dy", where)
        dgamma, dbeta = self.grads["gamma"], self.grads["beta"]
        np.sum(dy * cache.x_hat, axis=self._reduce_axes, out=dgamma)
        np.sum(dy, axis=self._reduce_axes, out=dbeta)
        scale = self._per_feature(self.params["gamma"]) * cache.inv_std
        if not cache.batch_statistics:
            return scale * dy
        count = dy.size // self.num_features
        removed = (self._per_feature(dbeta) + cache.x_hat * self._per_feature(dgamma)) / count
        return scale * (dy - removed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_features})"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of a dense batch: each of the C features over the N rows.

    forward:  x (N, C) -> y = gamma * x_hat + beta, shape (N, C), x_hat = (x - mu) / sqrt(var + eps)
    backward: dy (N, C) -> dx (N, C), and fills grads dgamma = sum_n dy * x_hat (C,),
              dbeta = sum_n dy (C,)

    In training mode mu and var (biased) are the batch's column means and variances and
    backward includes the gradient through them (the compact form derived in the module
    docstring). In evaluation mode (``eval()``) the running estimates replace them.

    Parameters
    ----------
    num_features : int
        C, the number of features (columns).
    momentum : float, default 0.1
        Weight of the newest batch in the running estimates, in [0, 1]:
        ``running = (1 - momentum) * running + momentum * batch statistic``.
    eps : float, default 1e-5
        Added to the variance before the square root, >= 0; 0 makes the scale invariance of
        Ioffe & Szegedy's Sec. 3.3 exact (a constant feature then divides by zero).
    dtype : float dtype, default float64
        Dtype of the parameters and running estimates; inputs must have it.

    Attributes
    ----------
    params : dict
        ``"gamma"`` (C,), starts at 1, and ``"beta"`` (C,), starts at 0.
    grads : dict
        Same keys and shapes, overwritten by each backward.
    running_mean, running_var : np.ndarray
        (C,), start at 0 and 1; updated in place by every training-mode forward (unbiased
        variance). ``buffers`` holds both by name.
    cache : BatchNormCache
        x_hat, s and whether batch statistics were used, from the last forward.
    """


class BatchNorm2d(_BatchNorm):
    """Batch normalization of an image batch: each of the C channels over N, H and W.

    forward:  x (N, C, H, W) -> y = gamma * x_hat + beta, shape (N, C, H, W)
    backward: dy (N, C, H, W) -> dx (N, C, H, W), and fills grads dgamma, dbeta (C,), sums
              over N, H and W

    The same layer as :class:`BatchNorm1d` with m = N * H * W values per channel: a
    convolution shares its weights across positions, so its outputs at all positions are
    normalized together (Ioffe & Szegedy 2015, Sec. 3.2). Parameters and attributes as there,
    with C the number of channels.
    """

    _trailing_axes = ("H", "W")
