"""Residual: gradients through the skip and the block (train and eval mode), parameter exposure,
modes, and error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import (
    BatchNorm1d,
    Dropout,
    Linear,
    ReLU,
    Residual,
    Sequential,
    Tanh,
)
from backprop_kit.optim import SGD


def randomize_biases(model, rng):
    for name, param in model.params.items():
        if name.endswith(".b") or name.endswith(".beta"):
            param[...] = 0.5 * rng.standard_normal(param.shape)


def bottleneck_block(features, hidden, rng):
    """Linear -> tanh -> Linear back to the input width: not square inside."""
    return Sequential(Linear(features, hidden, rng=rng, init="xavier"), Tanh(),
                      Linear(hidden, features, rng=rng))


def test_residual_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    layer = Residual(bottleneck_block(5, 7, rng))
    randomize_biases(layer, rng)
    report = check_layer(layer, rng.standard_normal((4, 5)), seed=1)
    report.raise_if_failed()
    assert {array.name for array in report.arrays} == {"x", "0.W", "0.b", "2.W", "2.b"}


@pytest.mark.parametrize("training", [True, False])
def test_residual_around_batchnorm_matches_finite_differences_in_train_and_eval_mode(training):
    rng = np.random.default_rng(1)
    # pre-activation order (He et al., "Identity mappings"): BN first. A Linear right before BN
    # would have a bias whose gradient is exactly 0 in training mode (BN removes the mean),
    # which finite differences can only resolve to rounding noise.
    block = Sequential(BatchNorm1d(4), Tanh(), Linear(4, 6, rng=rng), Tanh(), Linear(6, 4, rng=rng))
    layer = Residual(block)
    randomize_biases(layer, rng)
    for _ in range(3):  # running statistics away from their initial 0 and 1
        layer.forward(rng.standard_normal((5, 4)) + 1)
    layer.train(training)
    check_layer(layer, rng.standard_normal((5, 4)), seed=2).raise_if_failed()


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(3, 6),
    features=st.integers(1, 5),
    hidden=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_residual_gradients_are_right_for_all_small_shapes(n, features, hidden, seed):
    rng = np.random.default_rng(seed)
    layer = Residual(bottleneck_block(features, hidden, rng))
    randomize_biases(layer, rng)
    check_layer(layer, rng.standard_normal((n, features)), seed=seed).raise_if_failed()


def test_gradient_checker_catches_a_residual_that_drops_the_skip_in_backward():
    class NoSkipGradient(Residual):
        """Planted bug: returns only the block's input gradient, forgetting the identity path."""

        def backward(self, dy):
            super().backward(dy)
            return self.block.backward(dy)

    rng = np.random.default_rng(3)
    report = check_layer(NoSkipGradient(bottleneck_block(3, 4, rng)), rng.standard_normal((5, 3)))
    assert not report["x"].passed
    assert report["0.W"].passed and report["2.W"].passed


def test_forward_adds_the_input_and_backward_adds_the_upstream_gradient():
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    layer = Residual(Tanh())
    np.testing.assert_allclose(layer.forward(x), x + np.tanh(x), rtol=1e-14)
    np.testing.assert_allclose(layer.backward(dy), dy + dy * (1 - np.tanh(x) ** 2), rtol=1e-14)


def test_params_and_grads_are_the_blocks_own_arrays():
    rng = np.random.default_rng(5)
    block = bottleneck_block(3, 2, rng)
    layer = Residual(block)
    assert list(layer.params) == list(block.params) == ["0.W", "0.b", "2.W", "2.b"]
    assert layer.params["2.W"] is block[2].params["W"]
    assert layer.grads["0.b"] is block[0].grads["b"]
    pairs = list(layer.parameters())
    assert len(pairs) == 4 and pairs[0][0] is block[0].params["W"]
    assert list(Sequential(Linear(3, 3, rng=rng), layer).params)[2:] == [
        "1.0.W", "1.0.b", "1.2.W", "1.2.b"
    ]


def test_an_optimizer_built_on_the_residual_updates_the_block():
    rng = np.random.default_rng(6)
    block = Linear(3, 3, rng=rng)
    layer = Residual(block)
    before = block.params["W"].copy()
    optimizer = SGD(layer.parameters(), lr=0.1)
    x = rng.standard_normal((4, 3))
    layer.forward(x)
    dy = rng.standard_normal((4, 3))
    layer.backward(dy)
    optimizer.step()
    np.testing.assert_allclose(block.params["W"], before - 0.1 * x.T @ dy, rtol=1e-12)


def test_train_and_eval_reach_the_block():
    rng = np.random.default_rng(7)
    dropout = Dropout(0.5, rng=rng)
    layer = Residual(Sequential(Linear(2, 2, rng=rng), dropout))
    layer.eval()
    assert not layer.training and not dropout.training
    Sequential(layer).train()
    assert layer.training and dropout.training


def test_residual_errors_name_expected_and_actual():
    rng = np.random.default_rng(8)
    with pytest.raises(TypeError, match=r"Residual: block \(int\) is not a layer: it lacks "
                                        r"forward, backward, params, grads"):
        Residual(3)
    narrowing = Residual(Linear(4, 3, rng=rng))
    with pytest.raises(ValueError, match=r"must keep the shape of its input \(2, 4\).* got "
                                         r"\(2, 3\)"):
        narrowing.forward(np.ones((2, 4)))
    layer = Residual(ReLU())
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        layer.backward(np.ones((2, 3)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Residual\(ReLU\(\)\)\.backward: dy must have shape "
                                         r"\(2, 3\), got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"x must be a floating-point array"):
        layer.forward(np.ones((2, 3), dtype=np.int64))


def test_a_block_without_input_gradient_is_reported():
    rng = np.random.default_rng(9)
    layer = Residual(Linear(3, 3, rng=rng, input_grad=False))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"returned None instead of its input gradient.*"
                                         r"input_grad=True"):
        layer.backward(np.ones((2, 3)))
