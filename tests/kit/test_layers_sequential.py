"""Sequential: end-to-end gradients (with and without a loss), naming, modes, errors."""

import numpy as np
import pytest

from backprop_kit.gradcheck import check_gradients, check_layer
from backprop_kit.layers import (
    Dropout,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)


def smooth_net(rng):
    return Sequential(
        Linear(7, 6, rng=rng, init="xavier"),
        Tanh(),
        Linear(6, 5, rng=rng),
        Sigmoid(),
        Linear(5, 3, rng=rng),
    )


def randomize_biases(model, rng):
    for name, param in model.params.items():
        if name.endswith(".b"):
            param[...] = 0.5 * rng.standard_normal(param.shape)


def test_sequential_backward_matches_finite_differences_end_to_end():
    rng = np.random.default_rng(0)
    model = smooth_net(rng)
    randomize_biases(model, rng)
    report = check_layer(model, rng.standard_normal((4, 7)), seed=1)
    report.raise_if_failed()
    names = {array.name for array in report.arrays}
    assert names == {"x", "0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}


def test_relu_network_with_eval_dropout_matches_finite_differences():
    rng = np.random.default_rng(1)
    model = Sequential(
        Linear(5, 8, rng=rng),
        ReLU(),
        Dropout(0.5, rng=rng),
        Linear(8, 6, rng=rng),
        LeakyReLU(0.1),
        Linear(6, 2, rng=rng),
    ).eval()
    randomize_biases(model, rng)
    check_layer(model, rng.standard_normal((3, 5)), seed=2).raise_if_failed()


def test_network_plus_cross_entropy_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    model = smooth_net(rng)
    randomize_biases(model, rng)
    loss = SoftmaxCrossEntropy()
    labels = rng.integers(0, 3, size=4)
    # check_gradients perturbs the parameter arrays in place, so forward just runs the model
    inputs = {"x": rng.standard_normal((4, 7)), **model.params}

    def forward(x, **params):
        return loss.forward(model.forward(x), labels)

    def backward(dloss):
        return {"x": model.backward(loss.backward(dloss)), **model.grads}

    check_gradients(forward, backward, inputs, seed=3).raise_if_failed()


def test_gradient_checker_catches_a_planted_bug_inside_a_network():
    class TanhDerivativeFromInput(Tanh):
        """Planted bug: multiplies by 1 - x**2 (the input) instead of 1 - y**2."""

        def forward(self, x):
            self.x = x
            return super().forward(x)

        def backward(self, dy):
            return dy * (1 - self.x**2)

    rng = np.random.default_rng(0)
    model = Sequential(Linear(4, 5, rng=rng), TanhDerivativeFromInput(), Linear(5, 2, rng=rng))
    report = check_layer(model, rng.standard_normal((3, 4)), seed=0)
    assert not report.passed
    assert not report["0.W"].passed and report["2.W"].passed  # only upstream of the bug


def test_params_and_grads_are_the_layers_own_arrays_under_prefixed_names():
    rng = np.random.default_rng(0)
    first, second = Linear(3, 4, rng=rng), Linear(4, 2, rng=rng)
    model = Sequential(first, ReLU(), second)
    assert list(model.params) == ["0.W", "0.b", "2.W", "2.b"]
    assert list(model.grads) == list(model.params)
    assert model.params["2.W"] is second.params["W"]
    assert model.grads["0.b"] is first.grads["b"]
    pairs = list(model.parameters())
    assert len(pairs) == 4
    assert pairs[0][0] is first.params["W"] and pairs[0][1] is first.grads["W"]


def test_nested_sequential_names_compose():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 3, rng=rng), Sequential(Tanh(), Linear(3, 1, rng=rng)))
    assert list(model.params) == ["0.W", "0.b", "1.1.W", "1.1.b"]


def test_train_and_eval_reach_every_layer():
    rng = np.random.default_rng(0)
    inner = Sequential(Dropout(0.5, rng=rng))
    model = Sequential(Linear(2, 2, rng=rng), inner)
    model.eval()
    assert not model.training and not inner.training and not inner[0].training
    model.train()
    assert model.training and inner[0].training


def test_zero_grad_clears_all_gradients():
    rng = np.random.default_rng(0)
    model = smooth_net(rng)
    model.forward(rng.standard_normal((4, 7)))
    model.backward(rng.standard_normal((4, 3)))
    assert all(grad.any() for grad in model.grads.values())
    model.zero_grad()
    assert not any(grad.any() for grad in model.grads.values())


def test_first_layer_without_input_grad_makes_backward_return_none():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(3, 4, rng=rng, input_grad=False), ReLU(), Linear(4, 2, rng=rng))
    model.forward(rng.standard_normal((5, 3)))
    assert model.backward(rng.standard_normal((5, 2))) is None
    assert model.grads["0.W"].any()


def test_sequential_errors_are_clear():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match=r"argument 1 \(SoftmaxCrossEntropy\) is not a layer"):
        Sequential(Linear(2, 2, rng=rng), SoftmaxCrossEntropy())
    model = Sequential(Linear(3, 2, rng=rng), Tanh())
    with pytest.raises(RuntimeError, match=r"Tanh\(\)\.backward was called before forward"):
        model.backward(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"Linear\(3 -> 2\)\.forward: x must have shape \(N, 3\)"):
        model.forward(np.ones((4, 2)))
    assert len(model) == 2
    assert "Linear(3 -> 2)" in repr(model)
