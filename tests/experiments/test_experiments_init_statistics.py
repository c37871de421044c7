"""Glorot & Bengio (2010) and He et al. (2015) as reproduced in notebook 09: the published
claims over several seeds, the initializations' variances and the measured gradients.

The criteria are the ones :mod:`backprop_experiments.init_statistics`'s docstring states."""

import numpy as np
import pytest

from backprop_experiments.init_statistics import (
    GLOROT_INITS,
    HE_INITS,
    deep_relu_network,
    glorot_network,
    layer_statistics,
    relu_activation_stds,
    train_deep_relu,
)
from backprop_kit.data import load_digits_split
from backprop_kit.gradcheck import check_scalar_gradient
from backprop_kit.layers import Linear, SoftmaxCrossEntropy

GLOROT_SEEDS = range(5)
TRAIN_SEEDS = range(3)


@pytest.fixture(scope="module")
def digits():
    split = load_digits_split()
    return split.X_train, split.y_train


@pytest.fixture(scope="module")
def glorot(digits):
    X, y = digits
    return {init: [layer_statistics(X, y, init, seed) for seed in GLOROT_SEEDS]
            for init in GLOROT_INITS}


@pytest.fixture(scope="module")
def he_runs(digits):
    X, y = digits
    return {init: [train_deep_relu(X, y, init, seed) for seed in TRAIN_SEEDS] for init in HE_INITS}


# Glorot & Bengio 2010 ---------------------------------------------------------------------


def test_standard_init_back_propagated_gradients_shrink_toward_the_input(glorot):
    ratios = [run.backprop_ratio for run in glorot["standard"]]
    assert all(r < 0.15 for r in ratios), ratios


def test_normalized_init_keeps_most_of_the_back_propagated_gradient(glorot):
    ratios = [run.backprop_ratio for run in glorot["normalized"]]
    assert all(r > 0.4 for r in ratios), ratios


def test_standard_init_weight_gradients_keep_their_spread_across_layers(glorot):
    ratios = [run.weight_gradient_ratio for run in glorot["standard"]]
    assert all(0.8 <= r <= 1.25 for r in ratios), ratios


def test_activations_shrink_upward_with_standard_init_and_much_less_with_normalized(glorot):
    standard = [run.activation_ratio for run in glorot["standard"]]
    normalized = [run.activation_ratio for run in glorot["normalized"]]
    assert all(r < 0.2 for r in standard), standard
    assert all(r > 0.5 for r in normalized), normalized


def test_mean_jacobian_singular_values_are_near_the_papers_half_and_0_8(glorot):
    standard = [run.mean_singular_value for run in glorot["standard"]]
    normalized = [run.mean_singular_value for run in glorot["normalized"]]
    assert all(0.4 <= s <= 0.6 for s in standard), standard  # paper: about 0.5
    assert all(0.65 <= s <= 0.9 for s in normalized), normalized  # paper: about 0.8


def test_layer_statistics_shapes(glorot, digits):
    run = glorot["standard"][0]
    n = len(digits[0])
    assert [h.shape for h in run.activations] == [(n, 256)] * 5
    assert [g.shape for g in run.backprop_gradients] == [(n, 256)] * 5
    assert [g.shape for g in run.weight_gradients] == [(64, 256)] + [(256, 256)] * 4
    assert run.jacobian_singular_values.shape == (4, 4, 256)
    assert run.activation_std.shape == run.backprop_std.shape == (5,)


@pytest.mark.parametrize("init", GLOROT_INITS)
def test_glorot_network_weight_ranges_and_variances(init):
    model = glorot_network(init, np.random.default_rng(1), n_inputs=300, width=500, depth=2)
    W = [layer.params["W"] for layer in model.layers if isinstance(layer, Linear)][1]
    assert W.shape == (500, 500)
    bound = 1 / np.sqrt(500) if init == "standard" else np.sqrt(6 / 1000)
    assert np.abs(W).max() <= bound
    assert abs(W.var() / (bound**2 / 3) - 1) < 0.02  # U[-a, a] has variance a^2 / 3
    assert abs(500 * W.var() - (1 / 3 if init == "standard" else 1.0)) < 0.02


@pytest.mark.parametrize("init", GLOROT_INITS)
def test_layer_statistics_gradients_match_finite_differences(init):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((7, 5)), rng.integers(0, 10, size=7)
    run = layer_statistics(X, y, init, seed=4, width=6, depth=3, n_jacobian_examples=2)
    model = glorot_network(init, np.random.default_rng(4), n_inputs=5, width=6, depth=3)
    loss = SoftmaxCrossEntropy()
    linears = [layer for layer in model.layers if isinstance(layer, Linear)][:3]
    for layer, grad in zip(linears, run.weight_gradients, strict=True):
        check_scalar_gradient(lambda _W: loss.forward(model.forward(X), y),
                              lambda _W, grad=grad: grad, layer.params["W"],
                              name="W").raise_if_failed()
    # dL/ds_1 of example n is the gradient with respect to the first layer's bias for that
    # example alone, times 1/N; summed over the batch it is dL/db_1
    check_scalar_gradient(lambda _b: loss.forward(model.forward(X), y),
                          lambda _b: run.backprop_gradients[0].sum(axis=0),
                          linears[0].params["b"], name="b").raise_if_failed()


# He et al. 2015 ---------------------------------------------------------------------------


def test_xavier_shrinks_a_30_layer_relu_signal_by_about_2_to_the_minus_14_5(digits):
    X = digits[0].astype(np.float32)
    ratios = []
    for seed in range(5):
        stds = relu_activation_stds(deep_relu_network("xavier", np.random.default_rng(seed)), X)
        assert stds.shape == (30,)
        ratios.append(stds[-1] / stds[0])
    assert all(r < 1e-3 for r in ratios), ratios
    assert all(2**-14.5 / 3 < r < 2**-14.5 * 3 for r in ratios), ratios


def test_he_keeps_a_30_layer_relu_signal_at_its_scale(digits):
    X = digits[0].astype(np.float32)
    ratios = []
    for seed in range(5):
        stds = relu_activation_stds(deep_relu_network("he", np.random.default_rng(seed)), X)
        ratios.append(stds[-1] / stds[0])
    assert all(0.25 <= r <= 4 for r in ratios), ratios


def test_30_layer_relu_net_trains_with_he_and_stalls_at_ln_10_with_xavier(he_runs):
    he = [run.final_loss for run in he_runs["he"]]
    xavier = [run.final_loss for run in he_runs["xavier"]]
    assert all(loss < 2.1 for loss in he), he
    assert all(loss > 2.28 for loss in xavier), xavier
    assert all(abs(loss - np.log(10)) < 0.01 for loss in xavier), xavier
    for run in he_runs["he"] + he_runs["xavier"]:
        assert run.losses.shape == (300,) and np.all(np.isfinite(run.losses))
        assert run.std_ratio == run.activation_std[-1] / run.activation_std[0]


@pytest.mark.parametrize("init", HE_INITS)
def test_deep_relu_network_variances(init):
    model = deep_relu_network(init, np.random.default_rng(0), n_inputs=400, depth=2, width=400)
    W = [layer.params["W"] for layer in model.layers if isinstance(layer, Linear)][1]
    assert W.dtype == np.float32 and W.shape == (400, 400)
    assert abs(0.5 * 400 * W.var() - (1.0 if init == "he" else 0.5)) < 0.02


def test_bad_init_names_and_labels_are_rejected(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"init must be one of \('xavier', 'he'\), got 'kaiming'"):
        train_deep_relu(X, y, "kaiming")
    with pytest.raises(ValueError, match="init must be one of"):
        layer_statistics(X, y, "xavier")
    with pytest.raises(ValueError, match="labels"):
        layer_statistics(X, y[:-1], "standard")
