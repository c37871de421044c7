"""Activations and weight scale at depth: a deep MLP on the digits, probed at initialisation.

One forward and one backward pass (:func:`probe_deep_mlp`) give the spread of every hidden
layer's output and the gradient reaching every layer's bias. Notebook 10 shows two results
with it (sections 2 and 3):

1. **He, K., Zhang, X., Ren, S. & Sun, J. (2015)**, "Delving deep into rectifiers: surpassing
   human-level performance on ImageNet classification", ICCV, Sec. 2.2 (Eq. 10, and Fig. 3
   in its comparison with "Xavier" initialisation). A ReLU zeroes half of its input, so a
   layer keeps the second moment of the signal when (1/2) n Var[w] = 1: std sqrt(2/n) for
   fan-in n (:func:`he_std`). With n Var[w] = 1, std sqrt(1/n) (:func:`lecun_std`, the
   fan-in rule of LeCun, Bottou, Orr & Müller (1998), "Efficient BackProp", Sec. 4.6; He et
   al. compare against it under the name "Xavier", after the forward condition of Glorot &
   Bengio 2010, whose own Var[w] = 2/(n_in + n_out) equals it for square layers), every ReLU
   layer divides the standard deviation by sqrt(2), 2**-14.5 = 4e-5 over 30 layers, and He
   et al.'s 30-layer network does not learn.
2. **Saturating units.** The logistic sigmoid's slope is at most 1/4, so with weights that
   keep the scale every sigmoid layer still divides the back-propagated gradient by about 4,
   about 4**9 = 2.6e5 over ten layers, while tanh (slope 1 at 0) and ReLU (slope 1 where
   active) keep it (the bound behind Nielsen's "speed of learning", see
   :mod:`~backprop_experiments.speed_of_learning`; the ten-layer figures are this course's
   derivation, not a published table).

Pass criteria, asserted over seeds 0-4 by ``tests/experiments/test_experiments_depth_probe.py``
(and for seed 0 by the notebook), on 500 training digits:

- 30 ReLU layers of width 128: the std of the last hidden layer's output over the first's is
  below 1e-3 with :func:`lecun_std` (theory 4e-5) and in [0.25, 4] with :func:`he_std`;
- 10 layers of width 64: ||dL/db_1|| / ||dL/db_10|| is below 1e-4 for sigmoid with
  :func:`lecun_std` (theory 4**-9 = 4e-6), and in [0.2, 5] for tanh with :func:`lecun_std`
  and for ReLU with :func:`he_std`.

:mod:`~backprop_experiments.init_statistics` (notebook 09) also trains He et al.'s 30-layer
network; this module only probes at initialisation, for any activation and weight scale.
Everything runs in float64, a second or less per probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backprop_experiments._digits_mlp import ACTIVATIONS, Activation, digits, gaussian_linear
from backprop_kit.layers import Linear, Sequential, SoftmaxCrossEntropy

__all__ = ["DepthProbe", "he_std", "lecun_std", "probe_deep_mlp"]


def lecun_std(fan_in: int) -> float:
    """std = sqrt(1 / fan_in) (LeCun et al. 1998): keeps Var through a linear (or tanh near 0)
    layer."""
    return float(np.sqrt(1.0 / fan_in))


def he_std(fan_in: int) -> float:
    """std = sqrt(2 / fan_in) (He et al. 2015): keeps the second moment through a ReLU layer."""
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
        fan_in -> std of that layer's weights, e.g. :func:`he_std` or :func:`lecun_std`.
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
        layers += [gaussian_linear(fan_in, fan_out, weight_std(fan_in), rng),
                   ACTIVATIONS[activation]()]
    layers.append(gaussian_linear(width, 10, np.sqrt(1.0 / width), rng))
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
