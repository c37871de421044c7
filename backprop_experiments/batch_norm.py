"""Batch normalization against a vanishing gradient, and its scale invariance.

Ioffe, S. & Szegedy, C. (2015), "Batch normalization: accelerating deep network training by
reducing internal covariate shift", ICML. Two of its results, shown in notebook 10 (section 4):

- **Sec. 4.1 (Fig. 1):** a network of three fully connected hidden layers of 100 sigmoid
  units, from a small Gaussian initialisation, minibatches of 60, trained with and without
  BN before each nonlinearity; with BN it trains faster and further. Here on the digits
  (64 inputs instead of MNIST's 784), every weight from N(0, 0.01**2), plain SGD with
  learning rate 0.1 for 400 steps (:func:`batchnorm_experiment`). At that initialisation
  every sigmoid works near its slope of 1/4, and each layer shrinks the back-propagated
  gradient by about 1/4 * 0.01 * sqrt(100) = 0.025; BN's backward pass multiplies by
  gamma / std(z), which cancels it.
- **Sec. 3.3:** for a scalar a > 0, BN((aW)u) = BN(Wu), dBN((aW)u)/du = dBN(Wu)/du and
  dBN((aW)u)/d(aW) = (1/a) dBN(Wu)/dW (:func:`scale_invariance_errors`).

Pass criteria, asserted by ``tests/experiments/test_experiments_batch_norm.py`` (and for
seed 0 by the notebook):

- seeds 0-2: ||dL/dW1|| / ||dL/dW3|| on the first minibatch is below 0.01 without BN and in
  [0.5, 2] with BN; after 400 steps the test accuracy is above 0.85 with BN, below 0.2 without
  (chance is 0.1), and the gap is above 0.4. The paper's accuracies are not reproduced (other
  data, our learning rate): only the gap is the result;
- seeds 0-4 and a in {0.01, 10, 1000}, eps = 0: each identity holds to a relative error below
  1e-8; with eps = 1e-2 and a = 0.01 all three fail by more than 1e-2 (eps is then not small
  next to the variance), which shows that the check can fail.

Everything runs in float64; a 400-step training run takes a second or two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_experiments._digits_mlp import digits, gaussian_linear
from backprop_kit.data import DigitsSplit, minibatches
from backprop_kit.layers import BatchNorm1d, Linear, Sequential, Sigmoid, SoftmaxCrossEntropy
from backprop_kit.optim import SGD

__all__ = [
    "IOFFE_SIZES",
    "BatchNormRun",
    "batchnorm_experiment",
    "scale_invariance_errors",
    "sigmoid_mlp",
]

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
        layers.append(gaussian_linear(fan_in, fan_out, init_std, rng))
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


