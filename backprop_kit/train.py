"""A minibatch training loop and an evaluation helper for classification models."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from backprop_kit.data import minibatches
from backprop_kit.layers.base import Layer
from backprop_kit.layers.losses import Loss
from backprop_kit.optim import Optimizer

__all__ = ["History", "evaluate", "fit"]


@dataclass
class History:
    """Per-epoch metrics recorded by :func:`fit`, one entry per epoch.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss over the epoch's minibatches (each weighted by its size), measured
        as the model was trained, in training mode.
    train_accuracy : list of float
        Fraction of training samples whose largest output was the label, measured the same
        way; empty if the targets are not integer class labels.
    val_loss, val_accuracy : list of float
        The same on the validation set, measured after the epoch in evaluation mode; empty if
        no validation set was given (val_accuracy also if the targets are not labels).
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


def _are_labels(y: np.ndarray) -> bool:
    """True if ``y`` holds integer class labels, shape (N,), so accuracy is defined."""
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


class _Tally:
    """Running sums for a sample-weighted mean loss and an accuracy."""

    def __init__(self) -> None:
        self.samples = 0
        self.loss_sum = 0.0
        self.correct = 0

    def add(self, batch_loss: float, output: np.ndarray, target: np.ndarray) -> None:
        self.samples += len(target)
        self.loss_sum += batch_loss * len(target)
        if _are_labels(target):
            self.correct += int(np.count_nonzero(output.argmax(axis=1) == target))

    @property
    def loss(self) -> float:
        return self.loss_sum / self.samples

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples


def evaluate(
    model: Layer, loss: Loss, X: np.ndarray, y: np.ndarray, batch_size: int = 1024
) -> tuple[float, float | None]:
    """Mean loss and accuracy of ``model`` on (X, y), in evaluation mode.

    The model's training flag is restored afterwards; no gradients are computed.

    Parameters
    ----------
    model : Layer
        Maps X (N, ...) to outputs (N, C): rows of features (N, D) or images (N, C, H, W).
    loss : Loss
        ``loss.forward(output, target) -> float`` (e.g. SoftmaxCrossEntropy).
    X : np.ndarray
        Inputs, shape (N, ...): the model's input shape.
    y : np.ndarray
        Targets, shape (N,) integer labels (or whatever ``loss`` takes).
    batch_size : int, default 1024
        Rows per forward pass (bounds the memory used).

    Returns
    -------
    loss : float
        Mean loss over the N samples.
    accuracy : float or None
        Fraction of rows whose largest output is the label; None if y is not integer labels.
    """
    was_training = model.training
    model.eval()
    tally = _Tally()
    try:
        for X_batch, y_batch in minibatches(X, y, batch_size, rng=None, shuffle=False):
            output = model.forward(X_batch)
            tally.add(loss.forward(output, y_batch), output, y_batch)
    finally:
        model.train(was_training)
    return tally.loss, tally.accuracy if _are_labels(y) else None


def fit(
    model: Layer,
    loss: Loss,
    optimizer: Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with minibatch gradient descent and record per-epoch metrics.

    Each step: ``output = model.forward(X_batch)``, ``loss.forward(output, y_batch)``,
    ``optimizer.zero_grad()``, ``model.backward(loss.backward())``, ``optimizer.step()``.

    Parameters
    ----------
    model : Layer
        E.g. a ``Sequential``; put in training mode for every epoch (and left in it).
    loss : Loss
        ``forward(output, target) -> float`` and ``backward() -> doutput``.
    optimizer : Optimizer
        Built on ``model.parameters()``.
    X : np.ndarray
        Training inputs, shape (N, ...): the model's input shape, e.g. (N, D) or (N, C, H, W).
    y : np.ndarray
        Training targets, shape (N,) integer labels (accuracy is recorded only for labels).
    epochs : int
        Passes over the training set, >= 1.
    batch_size : int
        Rows per step.
    rng : np.random.Generator
        Shuffles the rows anew every epoch.
    X_val, y_val : np.ndarray, optional
        A validation set, evaluated after every epoch (give both or neither).
    progress : bool, default True
        Show a tqdm progress bar over the epochs (a widget in Jupyter; on stdout, not stderr,
        in a terminal). False prints nothing.

    Returns
    -------
    History
        Loss and accuracy per epoch.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive integer, got {epochs!r}")
    if (X_val is None) != (y_val is None):
        raise ValueError("fit: give both X_val and y_val, or neither")
    history = History()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, file=sys.stdout)
    for _ in bar:
        model.train()
        tally = _Tally()
        for X_batch, y_batch in minibatches(X, y, batch_size, rng):
            output = model.forward(X_batch)
            tally.add(loss.forward(output, y_batch), output, y_batch)
            optimizer.zero_grad()
            model.backward(loss.backward())
            optimizer.step()
        history.train_loss.append(tally.loss)
        summary = {"loss": f"{tally.loss:.4f}"}
        if _are_labels(y):
            history.train_accuracy.append(tally.accuracy)
            summary["acc"] = f"{tally.accuracy:.3f}"
        if X_val is not None:
            val_loss, val_accuracy = evaluate(model, loss, X_val, y_val)
            history.val_loss.append(val_loss)
            summary["val_loss"] = f"{val_loss:.4f}"
            if val_accuracy is not None:
                history.val_accuracy.append(val_accuracy)
                summary["val_acc"] = f"{val_accuracy:.3f}"
        bar.set_postfix(summary)
    return history
