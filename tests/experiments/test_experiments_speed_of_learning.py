"""Nielsen's speed of learning (notebook 09): the published claims over five seeds, and the
bias gradients behind them checked by finite differences.

The criteria are the ones :mod:`backprop_experiments.speed_of_learning`'s docstring states."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_experiments.speed_of_learning import (
    NIELSEN_SPEEDS,
    bias_gradients,
    nielsen_data,
    nielsen_network,
    speed_of_learning,
)
from backprop_kit.gradcheck import check_scalar_gradient
from backprop_kit.layers import Linear

SEEDS = range(5)


@pytest.fixture(scope="module")
def data():
    return nielsen_data()


@pytest.fixture(scope="module")
def speeds(data):
    X, Y = data
    return {hidden: np.array([speed_of_learning(X, Y, hidden, seed).speeds for seed in SEEDS])
            for hidden in NIELSEN_SPEEDS}


def test_nielsen_data_is_the_first_1000_digits_scaled_to_the_unit_interval(data):
    X, Y = data
    assert X.shape == (1000, 64) and Y.shape == (1000, 10)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(Y.sum(axis=1), np.ones(1000))
    assert set(np.unique(Y)) == {0.0, 1.0}


@pytest.mark.parametrize("hidden", list(NIELSEN_SPEEDS))
def test_every_hidden_layer_learns_faster_than_the_one_before_for_every_seed(speeds, hidden):
    per_seed = speeds[hidden]
    assert per_seed.shape == (len(SEEDS), len(hidden))
    assert np.all(np.diff(per_seed, axis=1) > 0), per_seed


def test_first_of_four_hidden_layers_learns_over_30_times_slower_than_the_last(speeds):
    per_seed = speeds[(30, 30, 30, 30)]
    ratios = per_seed[:, 0] / per_seed[:, -1]
    assert np.all(ratios < 0.03), ratios  # Nielsen: "roughly 100 times slower"


@pytest.mark.parametrize("hidden", list(NIELSEN_SPEEDS))
def test_five_seed_mean_speeds_are_within_a_factor_2_of_nielsens(speeds, hidden):
    mean = speeds[hidden].mean(axis=0)
    ratio = mean / np.array(NIELSEN_SPEEDS[hidden])
    assert np.all((ratio > 0.5) & (ratio < 2.0)), (mean, NIELSEN_SPEEDS[hidden])


def test_nielsen_network_draws_weights_from_n_0_1_over_fan_in_and_biases_from_n_0_1():
    model = nielsen_network((400, 300, 2), np.random.default_rng(0))
    first, second = (layer for layer in model.layers if isinstance(layer, Linear))
    assert first.params["W"].shape == (400, 300) and second.params["W"].shape == (300, 2)
    assert abs(first.params["W"].var() * 400 - 1.0) < 0.02
    assert abs(first.params["W"].mean()) < 0.002
    assert abs(first.params["b"].var() - 1.0) < 0.2
    assert len(model.layers) == 3  # Linear, Sigmoid, Linear: the output sigmoid is in the cost


def _sigmoid_cross_entropy(model, X, Y):
    """Mean over examples of -sum_j [y ln a + (1 - y) ln(1 - a)], a = sigmoid(output)."""
    z = model.forward(X)
    return float(np.mean(np.sum(np.logaddexp(0, z) - Y * z, axis=1)))


@settings(max_examples=10, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), n=st.integers(2, 6),
       seed=st.integers(0, 2**16))
def test_bias_gradients_match_finite_differences_of_the_cost(sizes, n, seed):
    rng = np.random.default_rng(seed)
    model = nielsen_network(tuple(sizes), rng)
    X = rng.uniform(size=(n, sizes[0]))
    Y = rng.uniform(size=(n, sizes[-1]))  # soft targets: the formula a - y holds for any y
    analytic = bias_gradients(model, X, Y)
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    assert len(analytic) == len(linears)
    for layer, grad in zip(linears, analytic, strict=True):
        bias = layer.params["b"]
        check_scalar_gradient(lambda _b: _sigmoid_cross_entropy(model, X, Y),
                              lambda _b, grad=grad: grad, bias, name="b").raise_if_failed()


def test_speed_of_learning_rejects_targets_of_the_wrong_shape(data):
    X, Y = data
    with pytest.raises(ValueError, match=r"Y must have shape \(1000, n_classes\), got \(999, 10\)"):
        speed_of_learning(X, Y[:999])
    with pytest.raises(TypeError, match="X must be a floating-point array"):
        speed_of_learning(X.astype(np.int64), Y)
