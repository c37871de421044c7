"""Loss functions: ``forward(prediction, target) -> scalar``, ``backward() -> dL/dprediction``.

A loss ends the chain, so its backward needs no upstream gradient; it takes an optional scalar
``dloss`` (default 1.0, i.e. dL/dL) so the chain rule stays visible and the gradient checker
can pass a random one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.layers._validate import check_float_array, check_labels, check_shape
from backprop_kit.layers.base import CachesForBackward

__all__ = [
    "Loss",
    "MSELoss",
    "SoftmaxCrossEntropy",
    "SoftmaxCrossEntropyCache",
    "softmax_and_nll",
]


def _check_dloss(dloss: object, where: str) -> float:
    if np.ndim(dloss) != 0:
        raise ValueError(f"{where}: dloss must be a scalar, got shape {np.shape(dloss)}")
    return float(dloss)


def softmax_and_nll(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise softmax and negative log-likelihood of the labels, computed stably.

    Uses the log-sum-exp trick: with m the row maximum, log sum_k exp(z_k) = m + log sum_k
    exp(z_k - m), so every exponent is <= 0 and logits of +-1000 neither overflow nor warn.
    The inputs are not checked: the losses that call this check them first.

    Parameters
    ----------
    logits : np.ndarray
        Scores z, shape (M, C), floating point.
    labels : np.ndarray
        Integer class labels, shape (M,), values in [0, C).

    Returns
    -------
    probs : np.ndarray
        softmax(z) row by row, shape (M, C), dtype of the logits.
    nll : np.ndarray
        -log softmax(z)[m, labels[m]] for every row m, shape (M,).
    """
    shifted = logits - logits.max(axis=1, keepdims=True)  # z - m, every entry <= 0
    probs = np.exp(shifted)
    row_sums = probs.sum(axis=1, keepdims=True)  # in [1, C]: log is safe
    probs /= row_sums  # in place: probs is our own fresh array
    # -log softmax(z)[label] = log sum_k exp(z_k - m) - (z_label - m)
    nll = np.log(row_sums[:, 0]) - shifted[np.arange(len(labels)), labels]
    return probs, nll


class Loss(CachesForBackward):
    """Base class of the losses: the end of the chain, with a scalar output."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        """Return the mean loss of ``prediction`` against ``target``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Return dL/dprediction (times ``dloss``), shape of the prediction."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass
class SoftmaxCrossEntropyCache:
    """What :class:`SoftmaxCrossEntropy` keeps between forward and backward.

    Attributes
    ----------
    probs : np.ndarray
        softmax(logits), shape (N, C).
    labels : np.ndarray
        The integer class labels, shape (N,).
    """

    probs: np.ndarray
    labels: np.ndarray


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by the mean negative log-likelihood, fused into one loss.

    forward:  logits (N, C), labels (N,) int in [0, C)
              -> L = -(1/N) sum_n log softmax(logits)[n, labels[n]], a float
    backward: -> dlogits = (softmax(logits) - onehot(labels)) / N, shape (N, C)

    Fusing the two keeps both directions stable and cheap. Forward uses the log-sum-exp trick
    (see :func:`softmax_and_nll`), so logits of +-1000 neither overflow nor warn. Backward is
    the simple difference above instead of a softmax Jacobian times 1/p.

    Attributes
    ----------
    cache : SoftmaxCrossEntropyCache
        The probabilities and labels of the last forward.
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Return the mean cross-entropy of ``logits`` (N, C) against ``labels`` (N,)."""
        where = "SoftmaxCrossEntropy.forward"
        check_float_array(logits, "logits", where)
        check_shape(logits, ("N", "C"), "logits", where)
        n_samples, n_classes = logits.shape
        if n_samples == 0:
            raise ValueError(f"{where}: logits must hold at least one row, got shape (0, C)")
        check_labels(labels, n_samples, n_classes, where)
        probs, nll = softmax_and_nll(logits, labels)
        self.cache = SoftmaxCrossEntropyCache(probs=probs, labels=labels)
        return float(np.mean(nll))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Return dL/dlogits = dloss * (softmax(logits) - onehot(labels)) / N, shape (N, C)."""
        cache = self._cached()
        scale = _check_dloss(dloss, "SoftmaxCrossEntropy.backward") / len(cache.labels)
        dlogits = cache.probs * scale
        dlogits[np.arange(len(cache.labels)), cache.labels] -= scale
        return dlogits


class MSELoss(Loss):
    """Mean squared error over all entries, as in PyTorch's ``MSELoss()``.

    forward:  pred (any shape), target (same shape) -> L = mean((pred - target)**2), a float
    backward: -> dpred = 2 * (pred - target) / pred.size, shape of pred

    The mean runs over every entry (N * D of them for (N, D) predictions), not just the batch,
    and there is no factor 1/2: the gradient keeps its 2.

    Attributes
    ----------
    cache : np.ndarray
        The residual ``pred - target`` of the last forward, shape of pred.
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """Return ``mean((pred - target)**2)`` for two float arrays of the same shape."""
        where = "MSELoss.forward"
        check_float_array(pred, "pred", where)
        check_float_array(target, "target", where)
        check_shape(target, pred.shape, "target", where)
        if pred.size == 0:
            raise ValueError(f"{where}: pred must hold at least one entry, got shape {pred.shape}")
        residual = pred - target
        self.cache = residual
        return float(np.vdot(residual, residual) / residual.size)

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Return dL/dpred = dloss * 2 * (pred - target) / pred.size, shape of pred."""
        residual = self._cached()
        scale = 2 * _check_dloss(dloss, "MSELoss.backward") / residual.size
        return residual * scale
