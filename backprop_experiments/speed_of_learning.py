"""Nielsen's "speed of learning" of each hidden layer of a sigmoid network at initialization.

Nielsen, M. A. (2015), *Neural Networks and Deep Learning*, chapter 5 ("Why are deep neural
networks hard to train?"). His ``network2`` defaults: sigmoid units everywhere, the
cross-entropy cost of sigmoid outputs, weights drawn from N(0, 1/n_in) and biases from N(0, 1).
The speed of hidden layer l is the length of the vector dC/db_l (one entry per neuron of the
layer), averaged over the first 1000 training images, at initialization. On MNIST he reports
that each layer learns several times slower than the one after it, the first hidden layer of
a four-hidden-layer network about 100 times slower than the last (:data:`NIELSEN_SPEEDS`).

Here the images are scikit-learn's 8x8 digits with pixels scaled to [0, 1] as Nielsen's MNIST
pixels are, so the input layer has 64 units instead of 784; the hidden layers are his.

Pass criteria, asserted over seeds 0-4 by
``tests/experiments/test_experiments_speed_of_learning.py`` for the three networks of
:data:`NIELSEN_SPEEDS` (two, three and four hidden layers of 30): for every seed each hidden
layer learns faster than the one before it; with four hidden layers the first learns more
than 30 times slower than the last, for every seed (Nielsen: "roughly 100 times slower"); and
the five-seed mean speed of every layer is within a factor 2 of Nielsen's number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.data import load_digits_split, one_hot
from backprop_kit.layers import Linear, Sequential, Sigmoid
from backprop_kit.layers._validate import check_float_array, check_positive_int, require_shape

__all__ = [
    "NIELSEN_SPEEDS",
    "SpeedOfLearning",
    "bias_gradients",
    "nielsen_data",
    "nielsen_network",
    "speed_of_learning",
]

NIELSEN_SPEEDS: dict[tuple[int, ...], tuple[float, ...]] = {
    (30, 30): (0.07, 0.31),
    (30, 30, 30): (0.012, 0.060, 0.283),
    (30, 30, 30, 30): (0.003, 0.017, 0.070, 0.285),
}
"""Speeds Nielsen (2015, ch. 5) quotes for MNIST, keyed by the hidden-layer sizes, first first."""

N_CLASSES = 10
_PIXEL_MAX = 16.0  # the digits' pixels are integers 0-16


def nielsen_data(n_images: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_images`` training digits, pixels in [0, 1], and their one-hot labels.

    Parameters
    ----------
    n_images : int, default 1000
        How many images, at most 1347 (the training part of the default split).

    Returns
    -------
    X : np.ndarray
        (n_images, 64) float64, each pixel divided by 16 so that it lies in [0, 1].
    Y : np.ndarray
        (n_images, 10) float64 one-hot labels.
    """
    n_images = check_positive_int(n_images, "n_images", "nielsen_data")
    split = load_digits_split(standardize=False)
    if n_images > len(split.X_train):
        raise ValueError(
            f"nielsen_data: n_images must be at most {len(split.X_train)}, got {n_images}"
        )
    X = split.X_train[:n_images] / _PIXEL_MAX
    return X, one_hot(split.y_train[:n_images], N_CLASSES)


def nielsen_network(layer_sizes: tuple[int, ...], rng: np.random.Generator) -> Sequential:
    """A sigmoid network initialized as Nielsen's ``network2``.

    Parameters
    ----------
    layer_sizes : tuple of int
        Units per layer, input first and output last, e.g. ``(64, 30, 30, 10)``; at least two.
    rng : np.random.Generator
        Draws every weight from N(0, 1/n_in) and every bias from N(0, 1), layer by layer.

    Returns
    -------
    Sequential
        ``Linear, Sigmoid, ..., Linear``: a Sigmoid after every layer but the last, whose
        output z (N, layer_sizes[-1]) is the pre-activation of the sigmoid output units (the
        cost of :func:`bias_gradients` applies that sigmoid).
    """
    sizes = tuple(check_positive_int(n, "a layer size", "nielsen_network") for n in layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"nielsen_network: layer_sizes needs at least two sizes, got {sizes}")
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        linear = Linear(n_in, n_out, rng=rng, init="xavier")  # its own init, replaced next:
        linear.params["W"][...] = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_out))
        linear.params["b"][...] = rng.normal(0.0, 1.0, size=n_out)
        layers += [linear, Sigmoid()]
    return Sequential(*layers[:-1])


def bias_gradients(model: Sequential, X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    """dC/db of every layer, averaged over the examples, for the sigmoid cross-entropy cost.

    The cost of one example is C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] with
    a = sigmoid(z) and z the model's output; its gradient at z is a - y (the sigmoid's
    derivative cancels), so backward starts from (a - Y) / N and every Linear layer's
    ``grads["b"]`` is then the batch mean of dC/db.

    Parameters
    ----------
    model : Sequential
        As built by :func:`nielsen_network`.
    X : np.ndarray
        (N, n_inputs) float64 inputs.
    Y : np.ndarray
        (N, n_outputs) float64 targets in [0, 1] (one-hot labels).

    Returns
    -------
    list of np.ndarray
        One array per Linear layer, input side first, each (that layer's n_out,).
    """
    where = "bias_gradients"
    check_float_array(X, "X", where)
    check_float_array(Y, "Y", where)
    z = model.forward(X)
    require_shape(Y, z.shape, "Y", where)
    outputs = Sigmoid().forward(z)
    model.backward((outputs - Y) / len(X))
    return [layer.grads["b"].copy() for layer in model.layers if isinstance(layer, Linear)]


@dataclass(frozen=True)
class SpeedOfLearning:
    """The speed of each hidden layer of one freshly initialized network.

    Attributes
    ----------
    hidden_sizes : tuple of int
        Units per hidden layer, first first.
    seed : int
        Seed of the initial weights.
    speeds : np.ndarray
        (n_hidden,) ||mean dC/db_l|| for each hidden layer l, first first.
    """

    hidden_sizes: tuple[int, ...]
    seed: int
    speeds: np.ndarray

    @property
    def first_over_last(self) -> float:
        """Speed of the first hidden layer divided by that of the last."""
        return float(self.speeds[0] / self.speeds[-1])


def speed_of_learning(
    X: np.ndarray, Y: np.ndarray, hidden_sizes: tuple[int, ...] = (30, 30, 30, 30), seed: int = 0
) -> SpeedOfLearning:
    """Measure the speed of each hidden layer of a network freshly drawn with ``seed``.

    Parameters
    ----------
    X : np.ndarray
        (N, n_inputs) float64, e.g. from :func:`nielsen_data`.
    Y : np.ndarray
        (N, n_classes) float64 one-hot labels.
    hidden_sizes : tuple of int, default (30, 30, 30, 30)
        Units per hidden layer (one of Nielsen's networks by default).
    seed : int, default 0
        Seed of ``np.random.default_rng`` that draws the weights.

    Returns
    -------
    SpeedOfLearning
        ``speeds`` has shape (len(hidden_sizes),).
    """
    where = "speed_of_learning"
    require_shape(check_float_array(X, "X", where), ("N", "n_inputs"), "X", where)
    require_shape(check_float_array(Y, "Y", where), (len(X), "n_classes"), "Y", where)
    sizes = (X.shape[1], *hidden_sizes, Y.shape[1])
    model = nielsen_network(sizes, np.random.default_rng(seed))
    hidden = bias_gradients(model, X, Y)[:-1]
    speeds = np.array([np.linalg.norm(grad) for grad in hidden])
    return SpeedOfLearning(hidden_sizes=tuple(hidden_sizes), seed=seed, speeds=speeds)
