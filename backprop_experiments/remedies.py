"""Remedies for vanishing and exploding gradients, each measured on a small seeded network.

Four experiments, the ones notebook 10 shows and
``tests/experiments/test_experiments_remedies.py`` asserts over several seeds (criteria in
``shared/notes/papers.md``):

1. **Activations and initialisation** (:func:`probe_deep_mlp`): a deep MLP on the digits at
   initialisation; how the activations' spread and the gradient reaching each layer change
   with depth. He, Zhang, Ren & Sun (2015), "Delving deep into rectifiers": a ReLU layer needs
   Var[w] = 2 / n_in to keep the signal's scale, Var[w] = 1 / n_in shrinks it by 1/sqrt(2)
   per layer. A sigmoid (slope at most 1/4) shrinks the back-propagated gradient whatever the
   initialisation.
2. **Batch normalization** (:func:`batchnorm_experiment`, :func:`scale_invariance_errors`):
   Ioffe & Szegedy (2015), "Batch normalization: accelerating deep network training by
   reducing internal covariate shift", Sec. 4.1: three fully connected sigmoid layers of 100
   from a small Gaussian initialisation, with and without BN; Sec. 3.3: BN makes a layer
   invariant to the scale of its weights.
3. **Residual connections** (:func:`residual_gradient_flow`): He, Zhang, Ren & Sun (2016),
   "Deep residual learning for image recognition" and "Identity mappings in deep residual
   networks": with y = x + F(x) the gradient at any depth is the gradient at the top plus
   terms through the branches, so 50 layers with small branch weights pass it on intact where
   the plain stack loses it.
4. **Gradient clipping** (:func:`clipping_experiment`): Pascanu, Mikolov & Bengio (2013), "On
   the difficulty of training recurrent neural networks". A linear RNN with recurrent matrix
   rho * Q (Q orthogonal, rho > 1) multiplies the back-propagated gradient by exactly rho per
   step; plain gradient descent diverges on it, clipping by the global norm keeps the
   gradient's direction and trains, clipping entry by entry also bounds the step but turns it.

Everything runs in float64 on the CPU in about a second per run or less; each function takes the
seed that fixes its initial weights and data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np

from backprop_kit.clip import clip_grad_norm, clip_grad_value
from backprop_kit.data import DigitsSplit, load_digits_split, minibatches
from backprop_kit.layers import (
    BatchNorm1d,
    Linear,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from backprop_kit.optim import SGD

__all__ = [
    "ACTIVATIONS",
    "BatchNormRun",
    "ClipRun",
    "DepthProbe",
    "RNNGradients",
    "batchnorm_experiment",
    "clipping_experiment",
    "digits",
    "exploding_rnn",
    "he_std",
    "leaky_sum_task",
    "orthogonal",
    "probe_deep_mlp",
    "residual_gradient_flow",
    "rnn_loss_and_grads",
    "scale_invariance_errors",
    "sigmoid_mlp",
    "xavier_std",
]

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
"""The activations the experiments take, by name."""

Activation = Literal["relu", "sigmoid", "tanh"]


@lru_cache(maxsize=1)
def digits() -> DigitsSplit:
    """The standardized digits split used by every experiment here (seed 0, 25% test).

    Returns
    -------
    DigitsSplit
        X_train (1347, 64), y_train (1347,), X_test (450, 64), y_test (450,).
    """
    return load_digits_split(seed=0)


def _linear(fan_in: int, fan_out: int, std: float, rng: np.random.Generator) -> Linear:
    """A Linear layer whose weights are drawn from N(0, std**2) (bias 0)."""
    layer = Linear(fan_in, fan_out, rng=rng)
    layer.params["W"][...] = rng.normal(0.0, std, size=(fan_in, fan_out))
    return layer


# ------------------------------------------------------------------------------------------
# 1. Activations and initialisation at depth


def xavier_std(fan_in: int) -> float:
    """std = 1 / sqrt(fan_in): keeps Var constant through a linear (or tanh near 0) layer."""
    return float(np.sqrt(1.0 / fan_in))


def he_std(fan_in: int) -> float:
    """std = sqrt(2 / fan_in): keeps the second moment constant through a ReLU layer."""
    return float(np.sqrt(2.0 / fan_in))


@dataclass
class DepthProbe:
    """What :func:`probe_deep_mlp` measures, one entry per hidden layer (first layer first).

    Attributes
    ----------
    activation_std : np.ndarray
        (depth,) standard deviation of each hidden layer's output over the batch.
    bias_grad_norm : np.ndarray
        (depth,) ||dL/db_l||, the norm of the gradient of each hidden layer's bias: the
        back-propagated error summed over the batch, how fast that layer starts to learn
        (Nielsen's "speed of learning").
    """

    activation_std: np.ndarray
    bias_grad_norm: np.ndarray


def probe_deep_mlp(
    activation: Activation,
    weight_std: Callable[[int], float],
    *,
    depth: int,
    width: int,
    seed: int,
    n_samples: int = 500,
) -> DepthProbe:
    """One forward and backward pass of a deep MLP on digits at initialisation.

    The network is 64 -> width (x depth hidden layers, each Linear then the activation) -> 10,
    with cross-entropy on the first ``n_samples`` training images. Hidden weights are drawn
    from N(0, weight_std(fan_in)**2), the output layer's from N(0, 1 / width); biases are 0.

    Parameters
    ----------
    activation : {"relu", "sigmoid", "tanh"}
        The hidden layers' nonlinearity.
    weight_std : callable
        fan_in -> std of that layer's weights, e.g. :func:`he_std` or :func:`xavier_std`.
    depth, width : int
        Number and width of the hidden layers.
    seed : int
        Seeds the weights.
    n_samples : int, default 500
        Batch size.

    Returns
    -------
    DepthProbe
        Activation spread and bias-gradient norm per hidden layer.
    """
    rng = np.random.default_rng(seed)
    sizes = [64] + [width] * depth
    layers: list = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [_linear(fan_in, fan_out, weight_std(fan_in), rng), ACTIVATIONS[activation]()]
    layers.append(_linear(width, 10, np.sqrt(1.0 / width), rng))
    model, loss = Sequential(*layers), SoftmaxCrossEntropy()
    data = digits()
    h, spreads = data.X_train[:n_samples], []
    for layer in model.layers:
        h = layer.forward(h)
        if not isinstance(layer, Linear):
            spreads.append(h.std())
    loss.forward(h, data.y_train[:n_samples])
    model.backward(loss.backward())
    hidden_linears = model.layers[0 : 2 * depth : 2]
    return DepthProbe(
        activation_std=np.array(spreads),
        bias_grad_norm=np.array([np.linalg.norm(layer.grads["b"]) for layer in hidden_linears]),
    )


# ------------------------------------------------------------------------------------------
# 2. Batch normalization (Ioffe & Szegedy 2015)

IOFFE_SIZES = (64, 100, 100, 100, 10)
"""Sec. 4.1's network (784 inputs there; the digits have 64): three sigmoid layers of 100."""


def sigmoid_mlp(
    with_batchnorm: bool, rng: np.random.Generator, init_std: float = 0.01
) -> Sequential:
    """The Ioffe & Szegedy Sec. 4.1 network: 64-100-100-100-10, sigmoid, N(0, init_std**2).

    With ``with_batchnorm`` every hidden layer is Linear -> BatchNorm1d -> Sigmoid (BN before
    the nonlinearity, as in the paper); without, Linear -> Sigmoid. The last layer is a plain
    Linear to the 10 class scores.

    Parameters
    ----------
    with_batchnorm : bool
        Insert BatchNorm1d after each hidden Linear.
    rng : np.random.Generator
        Draws the weights.
    init_std : float, default 0.01
        Standard deviation of every weight.

    Returns
    -------
    Sequential
        The model, in training mode.
    """
    layers: list = []
    n_hidden = len(IOFFE_SIZES) - 2
    for index, (fan_in, fan_out) in enumerate(zip(IOFFE_SIZES[:-1], IOFFE_SIZES[1:],
                                                  strict=True)):
        layers.append(_linear(fan_in, fan_out, init_std, rng))
        if index < n_hidden:
            if with_batchnorm:
                layers.append(BatchNorm1d(fan_out))
            layers.append(Sigmoid())
    return Sequential(*layers)


@dataclass
class BatchNormRun:
    """One training run of :func:`batchnorm_experiment`.

    Attributes
    ----------
    grad_ratio : float
        ||dL/dW1|| / ||dL/dW3|| at initialisation, on the first minibatch: the first hidden
        layer's weight gradient against the third's.
    train_loss : np.ndarray
        (steps,) the minibatch loss at every step, before that step's update.
    eval_steps : np.ndarray
        (K,) the steps after which the test accuracy was measured (0 = before training).
    test_accuracy : np.ndarray
        (K,) fraction of the 450 test digits classified correctly, in evaluation mode.
    """

    grad_ratio: float
    train_loss: np.ndarray
    eval_steps: np.ndarray
    test_accuracy: np.ndarray

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last step."""
        return float(self.test_accuracy[-1])


def _first_and_third_weight_grads(model: Sequential) -> tuple[np.ndarray, np.ndarray]:
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    return linears[0].grads["W"], linears[2].grads["W"]


def _test_accuracy(model: Sequential, data: DigitsSplit) -> float:
    model.eval()
    predictions = model.forward(data.X_test).argmax(axis=1)
    model.train()
    return float(np.mean(predictions == data.y_test))


def batchnorm_experiment(
    seed: int,
    with_batchnorm: bool,
    *,
    steps: int = 400,
    lr: float = 0.1,
    batch_size: int = 60,
    eval_every: int = 20,
) -> BatchNormRun:
    """Train :func:`sigmoid_mlp` on digits with SGD and record the gradient ratio and accuracy.

    Minibatches of 60 as in the paper; plain SGD with a constant learning rate, the same for
    both networks.

    Parameters
    ----------
    seed : int
        Seeds the weights and the minibatch order.
    with_batchnorm : bool
        Train the network with or without batch normalization.
    steps : int, default 400
        Number of SGD updates.
    lr : float, default 0.1
        Learning rate.
    batch_size : int, default 60
        Examples per step.
    eval_every : int, default 20
        Measure the test accuracy after every ``eval_every`` steps (and before the first).

    Returns
    -------
    BatchNormRun
        The ratio at initialisation, the loss per step, the test accuracy over training.
    """
    rng = np.random.default_rng(seed)
    data = digits()
    model, loss = sigmoid_mlp(with_batchnorm, rng), SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=lr)
    losses, eval_steps, accuracies = [], [0], [_test_accuracy(model, data)]
    grad_ratio = np.nan
    while len(losses) < steps:
        for X_batch, y_batch in minibatches(data.X_train, data.y_train, batch_size, rng):
            losses.append(loss.forward(model.forward(X_batch), y_batch))
            model.backward(loss.backward())
            if len(losses) == 1:
                first, third = _first_and_third_weight_grads(model)
                grad_ratio = float(np.linalg.norm(first) / np.linalg.norm(third))
            optimizer.step()
            if len(losses) % eval_every == 0 or len(losses) == steps:
                eval_steps.append(len(losses))
                accuracies.append(_test_accuracy(model, data))
            if len(losses) == steps:
                break
    return BatchNormRun(grad_ratio, np.array(losses), np.array(eval_steps), np.array(accuracies))


def scale_invariance_errors(
    seed: int, scale: float, *, n: int = 8, eps: float = 0.0
) -> dict[str, float]:
    """Check Ioffe & Szegedy's Sec. 3.3 identities for a Linear followed by BatchNorm1d.

    For weights W and a scalar a > 0 (exact for eps = 0; eps > 0 breaks them by about
    eps / Var[Wu], which matters when the scaled weights are small):
    BN((aW)u) = BN(Wu), dBN((aW)u)/du = dBN(Wu)/du, and dBN((aW)u)/d(aW) = (1/a) dBN(Wu)/dW:
    scaling the weights up leaves the layer's output and the gradient it passes down unchanged
    and shrinks the weights' own gradient, which stabilises their growth.

    Parameters
    ----------
    seed : int
        Seeds the batch u (n, 7), the weights W (7, 5) and the upstream gradient.
    scale : float
        a, > 0.
    n : int, default 8
        Batch size.
    eps : float, default 0
        The BatchNorm1d's eps.

    Returns
    -------
    dict of str to float
        ``"output"``, ``"input_gradient"``, ``"weight_gradient"``: the largest absolute
        difference between the two sides of each identity, relative to the largest entry of
        the right-hand side.
    """
    rng = np.random.default_rng(seed)
    u, dy = rng.normal(size=(n, 7)), rng.normal(size=(n, 5))
    model = Sequential(Linear(7, 5, rng=rng), BatchNorm1d(5, eps=eps))
    model.params["0.b"][...] = rng.normal(size=5)  # BN removes any bias: it cannot matter

    def output_and_gradients() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = model.forward(u)
        du = model.backward(dy)
        return y, du, model.grads["0.W"].copy()

    y, du, dW = output_and_gradients()
    model.params["0.W"][...] *= scale
    y_scaled, du_scaled, dW_scaled = output_and_gradients()

    def relative(left: np.ndarray, right: np.ndarray) -> float:
        return float(np.max(np.abs(left - right)) / np.max(np.abs(right)))

    return {
        "output": relative(y_scaled, y),
        "input_gradient": relative(du_scaled, du),
        "weight_gradient": relative(dW_scaled, dW / scale),
    }


# ------------------------------------------------------------------------------------------
# 3. Residual connections (He et al. 2016)


def residual_gradient_flow(
    seed: int,
    *,
    residual: bool,
    activation: Activation = "tanh",
    weight_scale: float = 0.1,
    depth: int = 50,
    width: int = 64,
    n_samples: int = 128,
) -> np.ndarray:
    """Norm of the gradient at every layer of a deep stack, with or without skip connections.

    Layer l is h_{l+1} = h_l + act(h_l W_l) (residual) or h_{l+1} = act(h_l W_l) (plain), with
    W_l (width, width) drawn from N(0, (weight_scale / sqrt(width))**2). h_0 is a batch of
    digits (64 pixels, so width is 64); the upstream gradient at the top, dL/dh_depth, is
    standard normal (what a loss above would send; its scale cancels in ratios).

    Parameters
    ----------
    seed : int
        Seeds the weights and the upstream gradient.
    residual : bool
        Wrap every layer in :class:`~backprop_kit.layers.Residual`.
    activation : {"relu", "sigmoid", "tanh"}, default "tanh"
        The nonlinearity inside each layer.
    weight_scale : float, default 0.1
        std of the weights times sqrt(width): 0.1 is a small branch, 1 Xavier's scale, sqrt(2)
        He's.
    depth, width : int, default 50, 64
        Number of layers; width must be 64 (the digits' pixels).
    n_samples : int, default 128
        Batch size.

    Returns
    -------
    np.ndarray
        (depth + 1,) ||dL/dh_l|| (Frobenius norm over the batch) for l = 0 (input) .. depth.
    """
    rng = np.random.default_rng(seed)
    std = weight_scale / np.sqrt(width)
    layers = []
    for _ in range(depth):
        block = Sequential(_linear(width, width, std, rng), ACTIVATIONS[activation]())
        layers.append(Residual(block) if residual else block)
    h = digits().X_train[:n_samples]
    for layer in layers:
        h = layer.forward(h)
    grad = rng.normal(size=h.shape)
    norms = [np.linalg.norm(grad)]
    for layer in reversed(layers):
        grad = layer.backward(grad)
        norms.append(np.linalg.norm(grad))
    return np.array(norms[::-1])


# ------------------------------------------------------------------------------------------
# 4. An exploding linear RNN and gradient clipping (Pascanu et al. 2013)


def orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal matrix (n, n), uniformly distributed (QR of a Gaussian matrix).

    Returns
    -------
    np.ndarray
        Q (n, n) with Q.T @ Q = I; the signs of R's diagonal are moved into Q so that the
        distribution is uniform (Haar).
    """
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def exploding_rnn(
    rng: np.random.Generator, *, rho: float = 1.1, hidden: int = 16
) -> dict[str, np.ndarray]:
    """Parameters of a linear RNN whose recurrent matrix is W = rho * Q, Q orthogonal.

    Every singular value of W is rho, so a gradient sent back one step is multiplied by
    exactly rho in norm: rho > 1 explodes as rho**t, rho < 1 vanishes.

    Parameters
    ----------
    rng : np.random.Generator
        Draws Q and the input and output weights.
    rho : float, default 1.1
        The scale of W.
    hidden : int, default 16
        n, the size of the state.

    Returns
    -------
    dict of str to np.ndarray
        ``"W"`` (n, n) = rho * Q, ``"U"`` (1, n) input weights, ``"V"`` (n, 1) output weights,
        both N(0, 1/n).
    """
    return {
        "W": rho * orthogonal(hidden, rng),
        "U": rng.normal(0.0, np.sqrt(1.0 / hidden), size=(1, hidden)),
        "V": rng.normal(0.0, np.sqrt(1.0 / hidden), size=(hidden, 1)),
    }


def leaky_sum_task(
    rng: np.random.Generator, *, n_sequences: int = 64, length: int = 50, decay: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    """Random sequences and, as target, their exponentially weighted sum.

    y = sum_t decay**(T - t) x_t: the last inputs count most. A linear RNN solves it exactly
    (a state that decays by ``decay`` per step), so the loss can go to 0.

    Parameters
    ----------
    rng : np.random.Generator
        Draws the inputs.
    n_sequences, length : int
        N and T.
    decay : float
        The weight of the input one step further back.

    Returns
    -------
    x : np.ndarray
        (T, N, 1) standard normal inputs, time-major.
    y : np.ndarray
        (N, 1) targets.
    """
    x = rng.normal(size=(length, n_sequences, 1))
    weights = decay ** np.arange(length - 1, -1, -1)
    return x, np.tensordot(weights, x, axes=(0, 0))


class RNNGradients(NamedTuple):
    """What :func:`rnn_loss_and_grads` returns.

    Attributes
    ----------
    loss : float
        L = mean over the N sequences of (h_T V - y)**2 / 2.
    grads : dict of str to np.ndarray
        dL/dW (n, n), dL/dU (1, n), dL/dV (n, 1).
    state_grad_norms : np.ndarray
        (T + 1,) ||dL/dh_t|| for t = 0 .. T (h_0 = 0 is the initial state).
    """

    loss: float
    grads: dict[str, np.ndarray]
    state_grad_norms: np.ndarray


def rnn_loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> RNNGradients:
    """Forward and backpropagation through time for the linear RNN of :func:`exploding_rnn`.

    forward:  h_0 = 0, h_t = h_{t-1} W + x_t U (t = 1..T), prediction h_T V,
              L = mean_n (h_T V - y)**2 / 2
    backward: dh_T = (h_T V - y) V^T / N, then dh_{t-1} = dh_t W^T; the weights are shared by
              all steps, so dW = sum_t h_{t-1}^T dh_t and dU = sum_t x_t^T dh_t (one matrix
              product each over all T*N rows); dV = h_T^T (h_T V - y) / N.

    Parameters
    ----------
    params : dict of str to np.ndarray
        ``"W"`` (n, n), ``"U"`` (1, n), ``"V"`` (n, 1).
    x : np.ndarray
        (T, N, 1) inputs, time-major.
    y : np.ndarray
        (N, 1) targets.

    Returns
    -------
    RNNGradients
        The loss, the three gradients and ||dL/dh_t|| per step.
    """
    W, U, V = params["W"], params["U"], params["V"]
    length, n_sequences, _ = x.shape
    hidden = W.shape[0]
    states = np.zeros((length + 1, n_sequences, hidden))
    for t in range(1, length + 1):
        states[t] = states[t - 1] @ W + x[t - 1] @ U
    error = states[length] @ V - y
    loss = float(0.5 * np.mean(error**2))
    d_prediction = error / n_sequences
    d_states = np.zeros_like(states)
    d_states[length] = d_prediction @ V.T
    for t in range(length, 0, -1):
        d_states[t - 1] = d_states[t] @ W.T
    d_rows = d_states[1:].reshape(length * n_sequences, hidden)
    grads = {
        "W": states[:-1].reshape(length * n_sequences, hidden).T @ d_rows,
        "U": x.reshape(length * n_sequences, 1).T @ d_rows,
        "V": states[length].T @ d_prediction,
    }
    norms = np.linalg.norm(d_states.reshape(length + 1, -1), axis=1)
    return RNNGradients(loss, grads, norms)


Clipping = Literal["none", "value", "norm"]


@dataclass
class ClipRun:
    """One gradient-descent run of :func:`clipping_experiment`, one entry per step taken.

    Attributes
    ----------
    loss : np.ndarray
        The loss before each step.
    grad_norm : np.ndarray
        Global norm of the raw gradient at each step.
    step_norm : np.ndarray
        Global norm of the gradient actually applied (after clipping).
    cosine : np.ndarray
        Cosine between the applied and the raw gradient: 1 means the same direction.
    diverged_at : int or None
        The step at which the loss stopped being finite or passed ``divergence_loss`` (the run
        stops there), None if it never did.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    step_norm: np.ndarray
    cosine: np.ndarray
    diverged_at: int | None


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([array.ravel() for array in arrays])


def clipping_experiment(
    seed: int,
    clip: Clipping,
    *,
    threshold: float = 1.0,
    lr: float = 0.05,
    steps: int = 200,
    rho: float = 1.1,
    divergence_loss: float = 1e12,
) -> ClipRun:
    """Full-batch gradient descent on :func:`leaky_sum_task` with the exploding linear RNN.

    Parameters
    ----------
    seed : int
        Seeds the RNN and the data; the three clipping modes share them for a given seed.
    clip : {"none", "value", "norm"}
        No clipping; :func:`~backprop_kit.clip.clip_grad_value` with the per-entry limit
        threshold / sqrt(P) (P parameters, so that the clipped gradient's norm is at most
        ``threshold`` too, and the two clippings differ only in direction);
        :func:`~backprop_kit.clip.clip_grad_norm` with ``threshold``.
    threshold : float, default 1.0
        The bound on the norm of the applied gradient.
    lr : float, default 0.05
        Learning rate.
    steps : int, default 200
        Maximum number of steps.
    rho : float, default 1.1
        Scale of the recurrent matrix at initialisation.
    divergence_loss : float, default 1e12
        A loss above this (or not finite) counts as diverged and ends the run.

    Returns
    -------
    ClipRun
        Per-step loss, gradient norms before and after clipping and their cosine.
    """
    if clip not in ("none", "value", "norm"):
        raise ValueError(f"clip must be 'none', 'value' or 'norm', got {clip!r}")
    param_rng, data_rng = np.random.default_rng(seed).spawn(2)
    params = exploding_rnn(param_rng, rho=rho)
    x, y = leaky_sum_task(data_rng)
    n_params = sum(array.size for array in params.values())
    record: dict[str, list[float]] = {"loss": [], "grad": [], "step": [], "cosine": []}
    diverged_at = None
    for step in range(steps):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run overflows
            loss, grads, _ = rnn_loss_and_grads(params, x, y)
        if not np.isfinite(loss) or loss > divergence_loss:
            diverged_at = step
            break
        arrays = list(grads.values())
        raw = _flat(arrays)
        if clip == "norm":
            clip_grad_norm(arrays, threshold)
        elif clip == "value":
            clip_grad_value(arrays, threshold / np.sqrt(n_params))
        applied = _flat(arrays)
        record["loss"].append(loss)
        record["grad"].append(float(np.linalg.norm(raw)))
        record["step"].append(float(np.linalg.norm(applied)))
        record["cosine"].append(float(raw @ applied / (np.linalg.norm(raw)
                                                       * np.linalg.norm(applied))))
        for name, grad in grads.items():
            params[name] -= lr * grad
    return ClipRun(
        loss=np.array(record["loss"]),
        grad_norm=np.array(record["grad"]),
        step_norm=np.array(record["step"]),
        cosine=np.array(record["cosine"]),
        diverged_at=diverged_at,
    )
