"""Flatten, and a small CNN assembled with Sequential (Conv2D, pooling, Flatten, Linear)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import (
    AvgPool2D,
    Conv2D,
    Flatten,
    Linear,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    Tanh,
)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=5))
def test_flatten_keeps_the_batch_axis_and_backward_undoes_it(shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    flatten = Flatten()
    y = flatten.forward(x)
    assert y.shape == (shape[0], int(np.prod(shape[1:])))
    np.testing.assert_array_equal(y[-1], x[-1].ravel())  # C order within each sample
    dy = rng.standard_normal(y.shape)
    dx = flatten.backward(dy)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx.reshape(y.shape), dy)


def test_flatten_passes_the_gradient_check_on_a_non_contiguous_input():
    x = np.random.default_rng(0).standard_normal((3, 4, 2, 5)).transpose(0, 2, 3, 1)
    report = check_layer(Flatten(), x, seed=1)
    report.raise_if_failed()


def test_flatten_errors_name_expected_and_actual():
    flatten = Flatten()
    with pytest.raises(ValueError, match=r"Flatten.forward: x must have a batch axis .*\(5,\)"):
        flatten.forward(np.zeros(5))
    with pytest.raises(TypeError, match=r"x must be a floating-point array .* got dtype int64"):
        flatten.forward(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        flatten.backward(np.zeros((2, 3)))
    flatten.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 12\), got \(2, 3, 4\)"):
        flatten.backward(np.zeros((2, 3, 4)))


def small_cnn(rng, pool):
    """Conv(2->3, 3x3, pad 1), Tanh, pool 2x2, Conv(3->4, 2x3), ReLU, Flatten, Linear(8->5)."""
    return Sequential(
        Conv2D(2, 3, 3, padding=1, rng=rng),
        Tanh(),
        pool,
        Conv2D(3, 4, (2, 3), rng=rng),
        ReLU(),
        Flatten(),
        Linear(4 * 2 * 1, 5, rng=rng),
    )


@pytest.mark.parametrize("pool", [MaxPool2D(2), AvgPool2D(2)], ids=["max", "avg"])
def test_a_small_cnn_in_sequential_passes_the_gradient_check(pool):
    rng = np.random.default_rng(0)
    model = small_cnn(rng, pool)
    for name, param in model.params.items():
        if name.endswith(".b"):
            param[...] = rng.standard_normal(param.shape) * 0.1
    x = rng.standard_normal((3, 2, 6, 6))  # -> (3, 3, 6, 6) -> (3, 3, 3, 3) -> (3, 4, 2, 1)
    assert model.forward(x).shape == (3, 5)
    report = check_layer(model, x, seed=1)
    report.raise_if_failed()
    assert {"x", "0.W", "0.b", "3.W", "3.b", "6.W", "6.b"} == {a.name for a in report.arrays}


def test_a_small_cnn_learns_a_fixed_batch_with_gradient_steps():
    rng = np.random.default_rng(0)
    model = small_cnn(rng, MaxPool2D(2))
    loss = SoftmaxCrossEntropy()
    x = rng.standard_normal((8, 2, 6, 6))
    labels = rng.integers(0, 5, size=8)
    losses = []
    for _ in range(30):
        losses.append(loss.forward(model.forward(x), labels))
        model.backward(loss.backward())
        for param, grad in model.parameters():
            param -= 0.1 * grad
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("shape", [(0, 3, 2, 2), (0, 5), (0, 1, 0)])
def test_flatten_an_empty_batch_gives_an_empty_batch_of_rows(shape):
    flatten = Flatten()
    y = flatten.forward(np.zeros(shape))
    assert y.shape == (0, int(np.prod(shape[1:])))
    dx = flatten.backward(np.zeros(y.shape))
    assert dx.shape == shape
