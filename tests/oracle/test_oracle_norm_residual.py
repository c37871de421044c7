"""Oracle: BatchNorm1d/2d, Residual and Sequential against PyTorch float64 autograd.

Batch norm conventions, the same in both libraries (the kit's BatchNorm docstrings and
``torch.nn.functional.batch_norm``): training mode normalizes with the batch's biased variance
and updates ``running = (1 - momentum) * running + momentum * batch``, with the *unbiased*
batch variance for ``running_var``; evaluation mode normalizes with the running estimates.
Torch's ``momentum=None`` (a cumulative average) has no kit counterpart and is not used.
"""

import numpy as np
import pytest
from torch_oracle import as_tensor, assert_matches, check_layer, randomize_parameters, torch

from backprop_kit.layers import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2D,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    MaxPool2D,
    ReLU,
    Residual,
    Sequential,
    Tanh,
)

F = torch.nn.functional

BATCH_NORMS = [(BatchNorm1d, (6, 4)), (BatchNorm2d, (3, 4, 2, 5))]


def batch_norm_reference(running_mean, running_var, training, momentum, eps):
    """torch's batch norm with the given running-estimate tensors (updated in place)."""
    return lambda t: F.batch_norm(t["x"], running_mean, running_var, t["gamma"], t["beta"],
                                  training=training, momentum=momentum, eps=eps)


@pytest.mark.parametrize(("momentum", "eps"), [(0.1, 1e-5), (0.35, 1e-3), (1.0, 1e-8)])
@pytest.mark.parametrize(("layer_class", "x_shape"), BATCH_NORMS, ids=["1d", "2d"])
def test_batchnorm_training_then_eval_matches_torch(layer_class, x_shape, momentum, eps):
    """Three training batches (outputs, gradients and running estimates after each), then an
    evaluation batch normalized with those estimates."""
    rng = np.random.default_rng(x_shape[0] + int(100 * momentum))
    layer = layer_class(x_shape[1], momentum=momentum, eps=eps)
    randomize_parameters(layer, rng)
    running_mean, running_var = torch.zeros(x_shape[1], dtype=torch.float64), torch.ones(
        x_shape[1], dtype=torch.float64)
    for step in range(3):
        x = 1.5 + 2.0 * rng.standard_normal(x_shape)  # mean and variance away from 0 and 1
        check_layer(layer, x,
                    batch_norm_reference(running_mean, running_var, True, momentum, eps), rng)
        assert_matches(layer.running_mean, running_mean, f"running_mean after batch {step}")
        assert_matches(layer.running_var, running_var, f"running_var after batch {step}")
    layer.eval()
    check_layer(layer, rng.standard_normal(x_shape),
                batch_norm_reference(running_mean, running_var, False, momentum, eps), rng)
    assert_matches(layer.running_mean, running_mean, "running_mean after eval (unchanged)")


@pytest.mark.parametrize(("layer_class", "x_shape"), BATCH_NORMS, ids=["1d", "2d"])
def test_batchnorm_with_constant_feature_matches_torch(layer_class, x_shape):
    """A feature with one value in the whole batch (variance 0): x_hat = 0 there. The value
    is a binary fraction, so that both libraries' means are exact and x - mean is exactly 0
    (with 0.7, torch's mean is off by a rounding error, which 1 / sqrt(eps) amplifies)."""
    rng = np.random.default_rng(5)
    layer = layer_class(x_shape[1])
    randomize_parameters(layer, rng)
    x = rng.standard_normal(x_shape)
    x[:, 1] = 0.75
    running = (torch.zeros(x_shape[1], dtype=torch.float64),
               torch.ones(x_shape[1], dtype=torch.float64))
    check_layer(layer, x, batch_norm_reference(*running, True, 0.1, 1e-5), rng)


def test_residual_around_a_dense_block_matches_torch():
    rng = np.random.default_rng(6)
    layer = Residual(Sequential(Linear(5, 3, rng=rng), Tanh(), Linear(3, 5, rng=rng)))
    randomize_parameters(layer, rng)

    def reference(t):
        hidden = torch.tanh(F.linear(t["x"], t["0.W"].T, t["0.b"]))
        return t["x"] + F.linear(hidden, t["2.W"].T, t["2.b"])

    check_layer(layer, rng.standard_normal((4, 5)), reference, rng)


def test_residual_around_a_padded_convolution_matches_torch():
    rng = np.random.default_rng(7)
    layer = Residual(Conv2D(3, 3, (3, 5), padding=(1, 2), rng=rng))
    randomize_parameters(layer, rng)
    check_layer(layer, rng.standard_normal((2, 3, 4, 6)),
                lambda t: t["x"] + F.conv2d(t["x"], t["W"], t["b"], padding=(1, 2)), rng)


def test_sequential_convolutional_network_matches_torch():
    """Conv (stride 2, padding 1) -> batch norm -> ReLU -> max pool -> flatten -> linear ->
    dropout (its mask redrawn from a copy of its rng) -> leaky ReLU -> linear."""
    rng = np.random.default_rng(8)
    dropout_seed, p = 9, 0.25
    model = Sequential(
        Conv2D(2, 3, 3, stride=2, padding=1, rng=rng),
        BatchNorm2d(3),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Linear(3 * 2 * 3, 5, rng=rng),
        Dropout(p, rng=np.random.default_rng(dropout_seed)),
        LeakyReLU(0.1),
        Linear(5, 4, rng=rng),
    )
    randomize_parameters(model, rng)
    x = rng.standard_normal((4, 2, 7, 11))  # conv: (4, 3, 4, 6); pool: (4, 3, 2, 3)
    keep = np.random.default_rng(dropout_seed).random((4, 5)) >= p

    def reference(t):
        z = F.conv2d(t["x"], t["0.W"], t["0.b"], stride=2, padding=1)
        z = F.batch_norm(z, None, None, t["1.gamma"], t["1.beta"], training=True)
        z = torch.flatten(F.max_pool2d(F.relu(z), 2), 1)
        z = F.linear(z, t["5.W"].T, t["5.b"]) * as_tensor(keep) / (1 - p)
        return F.linear(F.leaky_relu(z, 0.1), t["8.W"].T, t["8.b"])

    check_layer(model, x, reference, rng)


def test_sequential_in_eval_mode_matches_torch():
    """eval() reaches every layer: batch norm uses its running estimates, dropout is off."""
    rng = np.random.default_rng(10)
    model = Sequential(Linear(3, 4, rng=rng), BatchNorm1d(4),
                       Dropout(0.5, rng=np.random.default_rng(0)), Tanh())
    randomize_parameters(model, rng)
    bn = model[1]
    bn.running_mean[...] = rng.standard_normal(4)
    bn.running_var[...] = rng.uniform(0.5, 2.0, 4)
    running = (as_tensor(bn.running_mean), as_tensor(bn.running_var))
    model.eval()

    def reference(t):
        z = F.linear(t["x"], t["0.W"].T, t["0.b"])
        z = F.batch_norm(z, *running, t["1.gamma"], t["1.beta"], training=False)
        return torch.tanh(F.dropout(z, 0.5, training=False))

    check_layer(model, rng.standard_normal((5, 3)), reference, rng)
