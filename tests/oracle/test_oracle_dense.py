"""Oracle: Linear, the activations, Dropout and Flatten against PyTorch float64 autograd."""

import copy

import numpy as np
import pytest
from torch_oracle import as_tensor, assert_matches, check_layer, randomize_parameters, torch

from backprop_kit.layers import Dropout, Flatten, LeakyReLU, Linear, ReLU, Sigmoid, Tanh

F = torch.nn.functional


@pytest.mark.parametrize(("n", "d_in", "d_out"), [(5, 3, 7), (1, 6, 2), (4, 1, 1)])
def test_linear_matches_torch(n, d_in, d_out):
    rng = np.random.default_rng(n * 100 + d_in * 10 + d_out)
    layer = Linear(d_in, d_out, rng=rng)
    randomize_parameters(layer, rng)
    # The kit's W is (in, out), torch's linear weight (out, in): y = x W + b = linear(x, W.T, b).
    check_layer(layer, rng.standard_normal((n, d_in)),
                lambda t: F.linear(t["x"], t["W"].T, t["b"]), rng)


def test_linear_without_input_gradient_still_matches_torch_parameter_gradients():
    rng = np.random.default_rng(1)
    layer = Linear(4, 3, rng=rng, input_grad=False)
    randomize_parameters(layer, rng)
    check_layer(layer, rng.standard_normal((6, 4)),
                lambda t: F.linear(t["x"], t["W"].T, t["b"]), rng, input_grad=False)


def activation_input(rng):
    """A (3, 4, 5) batch with exact zeros (where ReLU's derivative is a convention) and
    entries of +-40 (where the sigmoid saturates)."""
    x = rng.standard_normal((3, 4, 5))
    x[0, 0, :3] = 0.0
    x[1, 2, 0], x[2, 3, 4] = 40.0, -40.0
    return x


@pytest.mark.parametrize(
    ("layer", "reference"),
    [
        (ReLU(), lambda t: F.relu(t["x"])),
        (LeakyReLU(), lambda t: F.leaky_relu(t["x"], 0.01)),
        (LeakyReLU(0.3), lambda t: F.leaky_relu(t["x"], 0.3)),
        (LeakyReLU(0.0), lambda t: F.leaky_relu(t["x"], 0.0)),
        (Sigmoid(), lambda t: torch.sigmoid(t["x"])),
        (Tanh(), lambda t: torch.tanh(t["x"])),
    ],
    ids=["relu", "leaky_default", "leaky_0.3", "leaky_0", "sigmoid", "tanh"],
)
def test_activation_matches_torch_including_zero_and_saturated_inputs(layer, reference):
    rng = np.random.default_rng(2)
    check_layer(layer, activation_input(rng), reference, rng)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.75])
def test_dropout_in_training_matches_torch_with_the_same_mask(p):
    """The kit keeps an entry where its rng's uniform draw is >= p (see Dropout.forward); a
    copy of the rng redraws those uniforms, and torch gets the same keep mask, scaled as
    torch.nn.functional.dropout scales the survivors, by 1 / (1 - p)."""
    rng = np.random.default_rng(3)
    layer = Dropout(p, rng=np.random.default_rng(4))
    x = rng.standard_normal((6, 7))
    keep = copy.deepcopy(layer.rng).random(x.shape) >= p
    check_layer(layer, x, lambda t: t["x"] * as_tensor(keep) / (1 - p), rng)


def test_dropout_scales_survivors_as_torch_does():
    """Torch's own dropout (its own mask): the surviving entries are x / (1 - p) there and in
    the kit, and both drop about a fraction p of the entries."""
    p = 0.4
    x = np.random.default_rng(5).uniform(1.0, 2.0, (50, 40))  # no zeros: kept entries show
    torch.manual_seed(0)
    torch_y = F.dropout(as_tensor(x), p, training=True).numpy()
    kit_y = Dropout(p, rng=np.random.default_rng(6)).forward(x)
    for y in (torch_y, kit_y):
        kept = y != 0
        assert_matches(y[kept], x[kept] / (1 - p), "surviving entries")
        assert abs(1 - kept.mean() - p) < 0.05


def test_dropout_in_eval_mode_is_the_identity_as_in_torch():
    rng = np.random.default_rng(7)
    layer = Dropout(0.5, rng=rng).eval()
    check_layer(layer, rng.standard_normal((4, 3)),
                lambda t: F.dropout(t["x"], 0.5, training=False), rng)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 5, 2), (4, 6)])
def test_flatten_matches_torch(shape):
    rng = np.random.default_rng(len(shape))
    check_layer(Flatten(), rng.standard_normal(shape), lambda t: torch.flatten(t["x"], 1), rng)
