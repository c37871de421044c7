"""How the initial weights set the scale of activations and gradients, layer by layer.

Two experiments on the digits:

- Glorot, X. & Bengio, Y. (2010), "Understanding the difficulty of training deep feedforward
  neural networks", AISTATS. Five tanh layers at initialization, with the then-standard
  U[-1/sqrt(n), 1/sqrt(n)] (so n Var[W] = 1/3) against their normalized
  U[-sqrt(6/(n_in + n_out)), +sqrt(6/(n_in + n_out))] (n Var[W] = 1 for square layers).
  With the standard init the activations shrink from layer to layer and the back-propagated
  gradients dL/ds shrink toward the input (their Figs. 6-7), while the weight gradients keep
  about the same spread in every layer (Fig. 8, Eq. 14). They also report the average
  singular value of the layer-to-layer Jacobians: about 0.5 standard, 0.8 normalized.
- He, K., Zhang, X., Ren, S. & Sun, J. (2015), "Delving deep into rectifiers", ICCV. A ReLU
  halves the second moment, so a layer keeps it when (1/2) n Var[w] = 1. Xavier's
  Var[w] = 1/n (square layers) loses a factor 1/sqrt(2) of the standard deviation per layer;
  their 30-layer network does not learn with it and does with Var[w] = 2/n.

Pass criteria, asserted by ``tests/experiments/test_experiments_init_statistics.py``
(:func:`layer_statistics`: five tanh layers of 256 on the training digits, seeds 0-4;
:func:`train_deep_relu`: 30 ReLU layers of 128, seeds 0-2):

- Glorot & Bengio, standard init: std(dL/ds_1) / std(dL/ds_5) below 0.15, std(h_5) / std(h_1)
  below 0.2, std(dL/dW_1) / std(dL/dW_5) in [0.8, 1.25], mean Jacobian singular value in
  [0.4, 0.6] (paper: about 0.5);
- normalized init: the back-propagated ratio above 0.4, the activation ratio above 0.5, the
  mean singular value in [0.65, 0.9] (paper: about 0.8);
- He et al., at initialisation (seeds 0-4): the last ReLU layer's output std over the first's
  within a factor 3 of 2**-14.5 (and below 1e-3) with ``"xavier"``, in [0.25, 4] with
  ``"he"``; after 300 SGD steps the mean loss of the last 50 is below 2.1 with ``"he"`` and
  within 0.01 of ln 10 (chance) with ``"xavier"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.data import minibatches
from backprop_kit.layers import Linear, ReLU, Sequential, SoftmaxCrossEntropy, Tanh
from backprop_kit.layers._validate import (
    check_float_array,
    check_labels,
    check_positive_int,
    require_shape,
)
from backprop_kit.optim import SGD

__all__ = [
    "GLOROT_INITS",
    "HE_INITS",
    "DeepReLURun",
    "LayerStatistics",
    "deep_relu_network",
    "glorot_network",
    "layer_statistics",
    "relu_activation_stds",
    "train_deep_relu",
]

GLOROT_INITS = ("standard", "normalized")
"""Glorot & Bengio's two initializations: U[+-1/sqrt(n_in)] and U[+-sqrt(6/(n_in + n_out))]."""
HE_INITS = ("xavier", "he")
"""The two initializations He et al. compare: Var[w] = 2/(n_in + n_out) and 2/n_in."""

N_CLASSES = 10
FINAL_LOSS_STEPS = 50
"""A run's final loss is the mean minibatch loss over this many last steps (single steps of a
30-layer network are noisy)."""


def _check_data(X: np.ndarray, y: np.ndarray, where: str) -> None:
    require_shape(check_float_array(X, "X", where), ("N", "n_inputs"), "X", where)
    check_labels(y, len(X), N_CLASSES, where)


def _check_choice(value: str, choices: tuple[str, ...], name: str, where: str) -> None:
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {choices}, got {value!r}")


def glorot_network(
    init: str, rng: np.random.Generator, n_inputs: int = 64, width: int = 256, depth: int = 5
) -> Sequential:
    """``depth`` tanh layers of ``width`` units and a linear output of 10 logits.

    Parameters
    ----------
    init : {"standard", "normalized"}
        ``"standard"``: W ~ U[-1/sqrt(n_in), 1/sqrt(n_in)] (Glorot & Bengio's Eq. 1);
        ``"normalized"``: U[-a, a] with a = sqrt(6 / (n_in + n_out)) (their Eq. 16, the kit's
        ``init="xavier"``). Biases start at zero.
    rng : np.random.Generator
        Draws the weights, layer by layer.
    n_inputs, width, depth : int
        Input size, units per hidden layer, number of hidden layers.

    Returns
    -------
    Sequential
        ``Linear, Tanh, ..., Linear, Tanh, Linear``: input (N, n_inputs) -> logits (N, 10).
    """
    where = "glorot_network"
    _check_choice(init, GLOROT_INITS, "init", where)
    sizes = [check_positive_int(n_inputs, "n_inputs", where)]
    sizes += [check_positive_int(width, "width", where)] * check_positive_int(depth, "depth", where)
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes, [*sizes[1:], N_CLASSES], strict=True)):
        linear = Linear(n_in, n_out, rng=rng, init="xavier", input_grad=index > 0)
        if init == "standard":
            bound = 1.0 / np.sqrt(n_in)
            linear.params["W"][...] = rng.uniform(-bound, bound, size=(n_in, n_out))
        layers += [linear, Tanh()]
    return Sequential(*layers[:-1])


@dataclass(frozen=True)
class LayerStatistics:
    """Activations and gradients of every hidden layer of one network at initialization.

    Layer l = 1..depth has pre-activation s_l = h_{l-1} @ W_l + b_l and output
    h_l = tanh(s_l); h_0 is the input.

    Attributes
    ----------
    init : str
        ``"standard"`` or ``"normalized"``.
    seed : int
        Seed of the weights.
    activations : tuple of np.ndarray
        h_1, ..., h_depth, each (N, width).
    backprop_gradients : tuple of np.ndarray
        dL/ds_1, ..., dL/ds_depth, each (N, width), for the mean cross-entropy L of the batch.
    weight_gradients : tuple of np.ndarray
        dL/dW_1 (n_inputs, width), dL/dW_2, ..., dL/dW_depth (width, width).
    jacobian_singular_values : np.ndarray
        (depth - 1, n_examples, width): singular values of dh_{l+1}/dh_l =
        diag(1 - h_{l+1}**2) W_{l+1}^T for l = 1..depth-1, at each of the first examples.
    """

    init: str
    seed: int
    activations: tuple[np.ndarray, ...]
    backprop_gradients: tuple[np.ndarray, ...]
    weight_gradients: tuple[np.ndarray, ...]
    jacobian_singular_values: np.ndarray

    @property
    def activation_std(self) -> np.ndarray:
        """(depth,) standard deviation of h_l over examples and units."""
        return np.array([h.std() for h in self.activations])

    @property
    def backprop_std(self) -> np.ndarray:
        """(depth,) standard deviation of dL/ds_l over examples and units."""
        return np.array([g.std() for g in self.backprop_gradients])

    @property
    def weight_gradient_std(self) -> np.ndarray:
        """(depth,) standard deviation of the entries of dL/dW_l."""
        return np.array([g.std() for g in self.weight_gradients])

    @property
    def activation_ratio(self) -> float:
        """std(h_depth) / std(h_1): below 1 when activations shrink going up."""
        return float(self.activation_std[-1] / self.activation_std[0])

    @property
    def backprop_ratio(self) -> float:
        """std(dL/ds_1) / std(dL/ds_depth): below 1 when gradients shrink toward the input."""
        return float(self.backprop_std[0] / self.backprop_std[-1])

    @property
    def weight_gradient_ratio(self) -> float:
        """std(dL/dW_1) / std(dL/dW_depth)."""
        return float(self.weight_gradient_std[0] / self.weight_gradient_std[-1])

    @property
    def mean_singular_value(self) -> float:
        """Mean singular value of the layer-to-layer Jacobians (Glorot & Bengio's measure)."""
        return float(self.jacobian_singular_values.mean())


def layer_statistics(
    X: np.ndarray,
    y: np.ndarray,
    init: str,
    seed: int = 0,
    width: int = 256,
    depth: int = 5,
    n_jacobian_examples: int = 4,
) -> LayerStatistics:
    """One forward and backward pass of a fresh :func:`glorot_network` on a batch.

    Parameters
    ----------
    X : np.ndarray
        (N, n_inputs) float64 inputs (standardized digits).
    y : np.ndarray
        (N,) int labels in [0, 10).
    init : {"standard", "normalized"}
        See :func:`glorot_network`.
    seed : int, default 0
        Seed of the weights.
    width, depth : int
        Units per hidden layer and number of hidden layers.
    n_jacobian_examples : int, default 4
        How many examples (the first ones) the Jacobians' singular values are computed at.

    Returns
    -------
    LayerStatistics
    """
    where = "layer_statistics"
    _check_data(X, y, where)
    n_jacobian_examples = check_positive_int(n_jacobian_examples, "n_jacobian_examples", where)
    model = glorot_network(init, np.random.default_rng(seed), X.shape[1], width, depth)
    activations = []
    signal = X
    for layer in model.layers:
        signal = layer.forward(signal)
        if isinstance(layer, Tanh):
            activations.append(signal)
    loss = SoftmaxCrossEntropy()
    loss.forward(signal, y)
    backprop_gradients, weight_gradients = [], []
    gradient = loss.backward()
    for layer in reversed(model.layers):
        gradient = layer.backward(gradient)
        if isinstance(layer, Tanh):
            backprop_gradients.append(gradient)
        elif layer is not model.layers[-1]:
            weight_gradients.append(layer.grads["W"].copy())
    weights = [layer.params["W"] for layer in model.layers if isinstance(layer, Linear)]
    singular_values = [
        np.linalg.svd(
            (1.0 - h_next[:n_jacobian_examples, :, None] ** 2) * W_next.T, compute_uv=False
        )
        for h_next, W_next in zip(activations[1:], weights[1:depth], strict=True)
    ]
    return LayerStatistics(
        init=init,
        seed=seed,
        activations=tuple(activations),
        backprop_gradients=tuple(backprop_gradients[::-1]),
        weight_gradients=tuple(weight_gradients[::-1]),
        jacobian_singular_values=np.array(singular_values),
    )


def deep_relu_network(
    init: str,
    rng: np.random.Generator,
    n_inputs: int = 64,
    depth: int = 30,
    width: int = 128,
    dtype: DTypeLike = np.float32,
) -> Sequential:
    """``depth`` ReLU layers of ``width`` units and a linear output of 10 logits.

    Parameters
    ----------
    init : {"xavier", "he"}
        Passed to every :class:`~backprop_kit.layers.Linear`: ``"xavier"`` Var[W] =
        2/(n_in + n_out) (uniform), ``"he"`` Var[W] = 2/n_in (Gaussian). Biases start at zero.
    rng : np.random.Generator
        Draws the weights.
    n_inputs, depth, width : int
        Input size, number of ReLU layers, units per layer.
    dtype : float dtype, default float32
        Of the parameters (float32 is twice as fast, and precise enough here).

    Returns
    -------
    Sequential
        ``Linear, ReLU, ..., Linear, ReLU, Linear``: input (N, n_inputs) -> logits (N, 10).
    """
    where = "deep_relu_network"
    _check_choice(init, HE_INITS, "init", where)
    sizes = [check_positive_int(n_inputs, "n_inputs", where)]
    sizes += [check_positive_int(width, "width", where)] * check_positive_int(depth, "depth", where)
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes, [*sizes[1:], N_CLASSES], strict=True)):
        layers += [
            Linear(n_in, n_out, rng=rng, init=init, dtype=dtype, input_grad=index > 0),
            ReLU(),
        ]
    return Sequential(*layers[:-1])


def relu_activation_stds(model: Sequential, X: np.ndarray) -> np.ndarray:
    """Standard deviation of every ReLU layer's output on a batch.

    Parameters
    ----------
    model : Sequential
        E.g. from :func:`deep_relu_network`.
    X : np.ndarray
        (N, n_inputs) inputs, of the model's dtype.

    Returns
    -------
    np.ndarray
        (number of ReLU layers,) float64: the std of each ReLU's output over examples and
        units, first layer first.
    """
    stds = []
    signal = X
    for layer in model.layers:
        signal = layer.forward(signal)
        if isinstance(layer, ReLU):
            stds.append(float(signal.std()))
    return np.array(stds)


@dataclass(frozen=True)
class DeepReLURun:
    """One deep ReLU network: its activation scales at initialization and its training losses.

    Attributes
    ----------
    init : str
        ``"xavier"`` or ``"he"``.
    seed : int
        Seed of the weights and of the minibatch order.
    activation_std : np.ndarray
        (depth,) std of each ReLU layer's output over the training set, at initialization.
    losses : np.ndarray
        (steps,) mean cross-entropy of each SGD step's minibatch, before that step's update.
    """

    init: str
    seed: int
    activation_std: np.ndarray
    losses: np.ndarray

    @property
    def std_ratio(self) -> float:
        """Activation std of the last ReLU layer over that of the first."""
        return float(self.activation_std[-1] / self.activation_std[0])

    @property
    def final_loss(self) -> float:
        """Mean minibatch loss over the last :data:`FINAL_LOSS_STEPS` steps."""
        return float(self.losses[-FINAL_LOSS_STEPS:].mean())


def train_deep_relu(
    X: np.ndarray,
    y: np.ndarray,
    init: str,
    seed: int = 0,
    depth: int = 30,
    width: int = 128,
    steps: int = 300,
    lr: float = 0.01,
    batch_size: int = 64,
) -> DeepReLURun:
    """Measure a fresh :func:`deep_relu_network`, then train it with plain SGD.

    Parameters
    ----------
    X : np.ndarray
        (N, n_inputs) float inputs (standardized digits); cast to float32.
    y : np.ndarray
        (N,) int labels in [0, 10).
    init : {"xavier", "he"}
        See :func:`deep_relu_network`.
    seed : int, default 0
        Seeds the weights and the minibatch order.
    depth, width : int, default 30 and 128
        Number of ReLU layers and their width.
    steps : int, default 300
        SGD steps (minibatches are drawn epoch by epoch, each epoch in a new random order).
    lr : float, default 0.01
        Learning rate. (0.05 also trains He-initialized networks, but with loss spikes that
        leave about one seed in eight near ln 10 after 300 steps.)
    batch_size : int, default 64

    Returns
    -------
    DeepReLURun
    """
    where = "train_deep_relu"
    _check_data(X, y, where)
    steps = check_positive_int(steps, "steps", where)
    if steps < FINAL_LOSS_STEPS:
        raise ValueError(f"{where}: steps must be at least {FINAL_LOSS_STEPS}, got {steps}")
    rng = np.random.default_rng(seed)
    model = deep_relu_network(init, rng, X.shape[1], depth, width)
    inputs = X.astype(np.float32)
    activation_std = relu_activation_stds(model, inputs)
    loss = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=lr)
    losses: list[float] = []
    while len(losses) < steps:
        for X_batch, y_batch in minibatches(inputs, y, batch_size, rng):
            losses.append(loss.forward(model.forward(X_batch), y_batch))
            model.backward(loss.backward())
            optimizer.step()
            if len(losses) == steps:
                break
    return DeepReLURun(init=init, seed=seed, activation_std=activation_std,
                       losses=np.array(losses))
