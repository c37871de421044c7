"""Loss functions: ``forward(prediction, target) -> scalar``, ``backward() -> dL/dprediction``.

Every loss takes the same two arguments under the same names, so positional and keyword calls
(``loss.forward(prediction=y, target=labels)``) work for all of them; a loss may add optional
ones after them (TemporalSoftmaxCrossEntropy's ``mask``). The gradient has the prediction's
shape and dtype.

A loss ends the chain, so its backward needs no upstream gradient; it takes an optional scalar
``dloss`` (default 1.0, i.e. dL/dL) so the chain rule stays visible and the gradient checker
can pass a random one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.layers._validate import check_float_array, check_labels, require_shape
from backprop_kit.layers.base import CachesForBackward

__all__ = [
    "Loss",
    "MSELoss",
    "SoftmaxCrossEntropy",
    "SoftmaxCrossEntropyCache",
    "softmax_and_nll",
    "softmax_nll_gradient",
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


def softmax_nll_gradient(probs: np.ndarray, labels: np.ndarray, scale: float) -> np.ndarray:
    """Gradient of ``scale`` times the mean of :func:`softmax_and_nll`'s nll over the rows.

    Parameters
    ----------
    probs : np.ndarray
        softmax of the logits, shape (M, C), M >= 1.
    labels : np.ndarray
        Integer class labels, shape (M,).
    scale : float
        dL/d(mean nll), the upstream scalar.

    Returns
    -------
    np.ndarray
        ``scale * (probs - onehot(labels)) / M``, shape (M, C), dtype of probs (a fresh array).
    """
    per_row = scale / len(labels)
    gradient = probs * per_row
    gradient[np.arange(len(labels)), labels] -= per_row
    return gradient


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

    forward:  prediction = logits (N, C), target = labels (N,) int in [0, C)
              -> L = -(1/N) sum_n log softmax(logits)[n, labels[n]], a float
    backward: -> dlogits = (softmax(logits) - onehot(labels)) / N, shape and dtype of logits

    Fusing the two keeps both directions stable and cheap. Forward uses the log-sum-exp trick
    (see :func:`softmax_and_nll`), so logits of +-1000 neither overflow nor warn. Backward is
    the simple difference above instead of a softmax Jacobian times 1/p.

    Attributes
    ----------
    cache : SoftmaxCrossEntropyCache
        The probabilities and labels of the last forward.
    """

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        """Return the mean cross-entropy of the logits against the class labels.

        Parameters
        ----------
        prediction : np.ndarray
            The logits, shape (N, C), floating point, N >= 1.
        target : np.ndarray
            Integer class labels, shape (N,), values in [0, C).

        Returns
        -------
        float
            The mean loss.
        """
        where = "SoftmaxCrossEntropy.forward"
        check_float_array(prediction, "prediction", where)
        require_shape(prediction, ("N", "C"), "prediction", where)
        n_samples, n_classes = prediction.shape
        if n_samples == 0:
            raise ValueError(
                f"{where}: prediction (the logits) must hold at least one row, got shape "
                f"{prediction.shape}"
            )
        check_labels(target, n_samples, n_classes, where, name="target")
        probs, nll = softmax_and_nll(prediction, target)
        self.cache = SoftmaxCrossEntropyCache(probs=probs, labels=target)
        return float(np.mean(nll))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Return dL/dlogits = dloss * (softmax(logits) - onehot(labels)) / N, shape (N, C)."""
        cache = self._cached()
        scale = _check_dloss(dloss, "SoftmaxCrossEntropy.backward")
        return softmax_nll_gradient(cache.probs, cache.labels, scale)


class MSELoss(Loss):
    """Mean squared error over all entries, as in PyTorch's ``MSELoss()``.

    forward:  prediction (any shape), target (same shape)
              -> L = mean((prediction - target)**2), a float
    backward: -> dprediction = 2 * (prediction - target) / prediction.size, shape and dtype
              of prediction

    The mean runs over every entry (N * D of them for (N, D) predictions), not just the batch,
    and there is no factor 1/2: the gradient keeps its 2.

    Attributes
    ----------
    cache : np.ndarray
        The residual ``prediction - target`` of the last forward, shape and dtype of
        prediction.
    """

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        """Return ``mean((prediction - target)**2)``.

        Parameters
        ----------
        prediction : np.ndarray
            Any shape with at least one entry, floating point.
        target : np.ndarray
            Shape of prediction, floating point (of any float dtype).

        Returns
        -------
        float
            The mean squared error.
        """
        where = "MSELoss.forward"
        check_float_array(prediction, "prediction", where)
        check_float_array(target, "target", where)
        require_shape(target, prediction.shape, "target", where)
        if prediction.size == 0:
            raise ValueError(
                f"{where}: prediction must hold at least one entry, got shape {prediction.shape}"
            )
        residual = np.subtract(prediction, target, dtype=prediction.dtype)
        self.cache = residual
        return float(np.vdot(residual, residual) / residual.size)

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Return dL/dprediction = dloss * 2 * (prediction - target) / size, shape of it."""
        residual = self._cached()
        scale = 2 * _check_dloss(dloss, "MSELoss.backward") / residual.size
        return residual * scale
