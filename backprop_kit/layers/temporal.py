"""Time-distributed layers: the same affine map and loss at every step of a sequence batch.

Both treat the N*T positions of a (N, T, ...) batch as N*T independent rows: one GEMM (and one
softmax) over all of them instead of a loop over t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.layers._validate import (
    check_float_array,
    check_indices,
    check_shape,
)
from backprop_kit.layers.base import Layer
from backprop_kit.layers.linear import Linear
from backprop_kit.layers.losses import Loss, _check_dloss, softmax_and_nll

__all__ = ["TemporalLinear", "TemporalSoftmaxCrossEntropy", "TemporalSoftmaxCrossEntropyCache"]


class TemporalLinear(Layer):
    """``y[:, t] = x[:, t] @ W + b`` at every step, as one GEMM over the N*T rows.

    forward:  x (N, T, in_features)   -> y (N, T, out_features)
    backward: dy (N, T, out_features) -> dx (N, T, in_features); fills grads:
              dW = sum over n, t of x[n, t]^T dy[n, t] (in_features, out_features),
              db = dy summed over n and t (out_features,)

    W and b are shared by all steps, so their gradients sum over the steps exactly as a
    :class:`~backprop_kit.layers.linear.Linear` layer's sum over the batch: the layer is a
    Linear applied to x reshaped to (N*T, in_features), which is how it is implemented.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of one input vector and one output vector.
    rng : np.random.Generator
        Draws the initial weights.
    init : {"xavier", "he"}, default "xavier"
        As in :class:`~backprop_kit.layers.linear.Linear`; Glorot suits a readout of tanh
        states.
    dtype : float dtype, default float64
        Dtype of W and b and of the inputs.

    Attributes
    ----------
    params, grads : dict
        ``"W"`` (in_features, out_features) and ``"b"`` (out_features,): the arrays of the
        inner Linear layer, shared, not copied.
    cache : tuple of int
        ``(N, T)`` of the last forward (the inner Linear keeps the (N*T, in_features) input).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        init: str = "xavier",
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self._linear = Linear(in_features, out_features, rng=rng, init=init, dtype=dtype)
        self.params = self._linear.params
        self.grads = self._linear.grads
        self.in_features, self.out_features = self._linear.in_features, self._linear.out_features

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the affine map at every step.

        Parameters
        ----------
        x : np.ndarray
            Shape (N, T, in_features).

        Returns
        -------
        np.ndarray
            Shape (N, T, out_features).
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        check_shape(x, ("N", "T", self.in_features), "x", where)
        n, steps = x.shape[:2]
        y = self._linear.forward(x.reshape(n * steps, self.in_features))
        self.cache = (n, steps)
        return y.reshape(n, steps, self.out_features)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Fill grads with dW, db and return dx.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, T, out_features).

        Returns
        -------
        np.ndarray
            dL/dx, shape (N, T, in_features).
        """
        n, steps = self._cached()
        where = f"{self!r}.backward"
        check_float_array(dy, "dy", where)
        check_shape(dy, (n, steps, self.out_features), "dy", where)
        dx = self._linear.backward(dy.reshape(n * steps, self.out_features))
        return dx.reshape(n, steps, self.in_features)

    def __repr__(self) -> str:
        return f"TemporalLinear({self.in_features} -> {self.out_features})"


@dataclass
class TemporalSoftmaxCrossEntropyCache:
    """What :class:`TemporalSoftmaxCrossEntropy` keeps between forward and backward.

    Attributes
    ----------
    probs : np.ndarray
        softmax of the scores at every position, shape (N*T, C).
    labels : np.ndarray
        The labels, flattened, shape (N*T,).
    weights : np.ndarray
        1 / (number of unmasked positions) at the unmasked positions, 0 elsewhere, shape
        (N*T, 1), dtype of the scores.
    shape : tuple of int
        (N, T, C), to give dscores its shape back.
    """

    probs: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    shape: tuple[int, int, int]


class TemporalSoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy at every step, averaged over the positions the mask keeps.

    forward:  scores (N, T, C), labels (N, T) int in [0, C), mask (N, T) bool or None
              -> L = (1/M) sum over unmasked (n, t) of -log softmax(scores[n, t])[labels[n, t]]
                 with M the number of unmasked positions (M = N*T without a mask), a float
    backward: -> dscores = (softmax(scores) - onehot(labels)) * mask / M, shape (N, T, C)

    The mask leaves out positions that carry no target (padding, or the input phase of the
    copy task); they get zero gradient. The softmax and the log-sum-exp trick are those of
    :class:`~backprop_kit.layers.losses.SoftmaxCrossEntropy` (shared code), applied to the
    N*T rows at once.

    Attributes
    ----------
    cache : TemporalSoftmaxCrossEntropyCache
        Probabilities, labels and per-position weights of the last forward.
    """

    def forward(
        self, scores: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """Return the mean cross-entropy over the unmasked positions.

        Parameters
        ----------
        scores : np.ndarray
            Unnormalised log-probabilities, shape (N, T, C), floating point.
        labels : np.ndarray
            Integer targets, shape (N, T), values in [0, C).
        mask : np.ndarray, optional
            Boolean, shape (N, T): True where the position counts. All positions when None.

        Returns
        -------
        float
            The mean loss.
        """
        where = "TemporalSoftmaxCrossEntropy.forward"
        check_float_array(scores, "scores", where)
        check_shape(scores, ("N", "T", "C"), "scores", where)
        n, steps, n_classes = scores.shape
        check_indices(labels, (n, steps), n_classes, "labels", where, noun="classes")
        if mask is None:
            mask = np.ones((n, steps), dtype=bool)
        elif not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
            raise TypeError(f"{where}: mask must be a boolean numpy array, got {got}")
        check_shape(mask, (n, steps), "mask", where)
        kept = int(np.count_nonzero(mask))
        if kept == 0:
            raise ValueError(f"{where}: the mask keeps no position, so the mean is undefined")
        probs, nll = softmax_and_nll(
            scores.reshape(n * steps, n_classes), labels.reshape(n * steps)
        )
        weights = mask.reshape(n * steps, 1) / scores.dtype.type(kept)
        self.cache = TemporalSoftmaxCrossEntropyCache(
            probs=probs, labels=labels.reshape(-1), weights=weights, shape=scores.shape
        )
        return float(np.dot(nll, weights[:, 0]))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Return dL/dscores = dloss * (softmax - onehot) * mask / M, shape (N, T, C)."""
        cache = self._cached()
        scale = _check_dloss(dloss, "TemporalSoftmaxCrossEntropy.backward")
        dscores = cache.probs * (cache.weights * scale)
        rows = np.arange(len(cache.labels))
        dscores[rows, cache.labels] -= cache.weights[:, 0] * scale
        return dscores.reshape(cache.shape)
