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
    check_upstream,
    require_shape,
)
from backprop_kit.layers.base import Layer
from backprop_kit.layers.linear import Linear
from backprop_kit.layers.losses import (
    Loss,
    _check_dloss,
    softmax_and_nll,
    softmax_nll_gradient,
)

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
    init : {"he", "xavier"}, default "he"
        As in :class:`~backprop_kit.layers.linear.Linear`, with the same default as every layer
        of the kit; ``"xavier"`` (Glorot) suits a readout of tanh states.
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
        init: str = "he",
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
        require_shape(x, ("N", "T", self.in_features), "x", where)
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
        dy = check_upstream(dy, (n, steps, self.out_features), self.params["W"].dtype, "dy", where)
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
        softmax of the scores at the M kept positions, shape (M, C).
    labels : np.ndarray
        The labels at the kept positions, shape (M,).
    rows : slice or np.ndarray
        Which of the N*T flattened positions (n * T + t) were kept: ``slice(None)`` (all of
        them) without a mask, else their indices, shape (M,).
    shape : tuple of int
        (N, T, C), to give dscores its shape back.
    """

    probs: np.ndarray
    labels: np.ndarray
    rows: slice | np.ndarray
    shape: tuple[int, int, int]


class TemporalSoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy at every step, averaged over the positions the mask keeps.

    forward:  prediction = scores (N, T, C), target = labels (N, T) int in [0, C),
              mask (N, T) bool or None
              -> L = (1/M) sum over unmasked (n, t) of -log softmax(scores[n, t])[labels[n, t]]
                 with M the number of unmasked positions (M = N*T without a mask), a float
    backward: -> dscores = (softmax(scores) - onehot(labels)) * mask / M, shape and dtype of
                 scores

    The mask leaves out positions that carry no target (padding, or the input phase of the
    copy task). Like PyTorch's ``ignore_index``, a position left out does not enter the
    computation at all: it gets zero gradient, and whatever its scores hold (even NaN or inf)
    cannot reach the loss. The softmax and the log-sum-exp trick are those of
    :class:`~backprop_kit.layers.losses.SoftmaxCrossEntropy` (shared code), applied to the M
    kept rows at once.

    Attributes
    ----------
    cache : TemporalSoftmaxCrossEntropyCache
        Probabilities, labels and positions of the kept rows of the last forward.
    """

    def forward(
        self, prediction: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None
    ) -> float:
        """Return the mean cross-entropy over the unmasked positions.

        Parameters
        ----------
        prediction : np.ndarray
            The scores (unnormalised log-probabilities), shape (N, T, C), floating point.
        target : np.ndarray
            Integer labels, shape (N, T), values in [0, C).
        mask : np.ndarray, optional
            Boolean, shape (N, T): True where the position counts. All positions when None.

        Returns
        -------
        float
            The mean loss.
        """
        where = "TemporalSoftmaxCrossEntropy.forward"
        check_float_array(prediction, "prediction", where)
        require_shape(prediction, ("N", "T", "C"), "prediction", where)
        n, steps, n_classes = prediction.shape
        check_indices(target, (n, steps), n_classes, "target", where, noun="classes")
        if mask is not None:
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
                got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
                raise TypeError(f"{where}: mask must be a boolean numpy array, got {got}")
            require_shape(mask, (n, steps), "mask", where)
        if n * steps == 0:
            raise ValueError(
                f"{where}: prediction holds no position (shape {prediction.shape}), so the "
                "mean is undefined"
            )
        rows = slice(None) if mask is None else np.flatnonzero(mask)
        if mask is not None and len(rows) == 0:
            raise ValueError(f"{where}: the mask keeps no position, so the mean is undefined")
        labels = target.reshape(n * steps)[rows]
        probs, nll = softmax_and_nll(prediction.reshape(n * steps, n_classes)[rows], labels)
        self.cache = TemporalSoftmaxCrossEntropyCache(
            probs=probs, labels=labels, rows=rows, shape=prediction.shape
        )
        return float(np.mean(nll))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Return dL/dscores = dloss * (softmax - onehot) * mask / M, shape (N, T, C)."""
        cache = self._cached()
        scale = _check_dloss(dloss, "TemporalSoftmaxCrossEntropy.backward")
        n, steps, n_classes = cache.shape
        dscores = np.zeros((n * steps, n_classes), dtype=cache.probs.dtype)
        dscores[cache.rows] = softmax_nll_gradient(cache.probs, cache.labels, scale)
        return dscores.reshape(cache.shape)
