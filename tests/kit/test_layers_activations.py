"""Activations: gradients by finite differences, properties over shapes, stability, errors."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import LeakyReLU, ReLU, Sigmoid, Tanh

ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": lambda: LeakyReLU(0.1),
    "sigmoid": Sigmoid,
    "tanh": Tanh,
}
SHAPES = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


def signed_values(rng, shape):
    """Values of both signs with |x| in [0.1, 3]: away from ReLU's kink at 0, where the
    derivative jumps and a finite difference across it is meaningless."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 3.0, size=shape)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    layer = ACTIVATIONS[name]()
    report = check_layer(layer, signed_values(rng, (6, 4)), seed=1)
    report.raise_if_failed()
    assert [array.name for array in report.arrays] == ["x"]  # no parameters


@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 2**16))
def test_activation_gradients_are_right_for_all_shapes(name, shape, seed):
    rng = np.random.default_rng(seed)
    check_layer(ACTIVATIONS[name](), signed_values(rng, shape), seed=seed).raise_if_failed()


@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]))
def test_activation_keeps_shape_and_dtype_and_leaves_input_alone(name, shape, seed, dtype):
    x = signed_values(np.random.default_rng(seed), shape).astype(dtype)
    before = x.copy()
    layer = ACTIVATIONS[name]()
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.shape == dx.shape == x.shape
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(x, before)


@settings(max_examples=25, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 2**16))
def test_activation_identities_hold_for_all_shapes(shape, seed):
    x = signed_values(np.random.default_rng(seed), shape)
    # relu(x) - relu(-x) = x; leaky(x) = relu(x) - slope * relu(-x)
    np.testing.assert_allclose(ReLU().forward(x) - ReLU().forward(-x), x, atol=1e-15)
    leaky = LeakyReLU(0.2).forward(x)
    np.testing.assert_allclose(leaky, ReLU().forward(x) - 0.2 * ReLU().forward(-x), atol=1e-15)
    # sigmoid(-x) = 1 - sigmoid(x); sigmoid(x) = (1 + tanh(x / 2)) / 2
    sigmoid = Sigmoid().forward(x)
    np.testing.assert_allclose(Sigmoid().forward(-x), 1 - sigmoid, atol=1e-15)
    np.testing.assert_allclose(sigmoid, (1 + np.tanh(x / 2)) / 2, atol=1e-15)
    np.testing.assert_allclose(Tanh().forward(-x), -Tanh().forward(x), atol=1e-15)


def test_sigmoid_matches_the_textbook_formula_on_moderate_inputs():
    x = np.linspace(-20, 20, 81)
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_plus_minus_1000_without_warnings(dtype):
    x = np.array([[-1000.0, -50.0, 0.0], [50.0, 1000.0, -745.0]], dtype=dtype)
    layer = Sigmoid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(y))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert y[0, 0] == 0 and y[1, 1] == 1 and y[0, 2] == 0.5
    assert y[0, 1] > 0  # exp(-50) ~ 2e-22 keeps its relative precision, not rounded to 0
    np.testing.assert_allclose(y[0, 1], np.exp(-50.0) / (1 + np.exp(-50.0)), rtol=1e-6)
    assert dx[0, 0] == 0 and dx[1, 1] == 0


def test_tanh_saturates_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = Tanh().forward(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(y, [-1.0, 1.0])


def test_relu_derivative_at_zero_is_zero():
    layer = ReLU()
    layer.forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(layer.backward(np.array([5.0, 5.0, 5.0])), [0.0, 0.0, 5.0])


def test_gradient_checker_catches_a_sigmoid_with_a_planted_bug():
    class ForgetfulSigmoid(Sigmoid):
        """Planted bug: dx = dy * y, the (1 - y) factor forgotten."""

        def backward(self, dy):
            return dy * self.cache

    x = signed_values(np.random.default_rng(0), (4, 3))
    assert not check_layer(ForgetfulSigmoid(), x, seed=0).passed


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_errors_are_clear(name):
    layer = ACTIVATIONS[name]()
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        layer.backward(np.ones(3))
    with pytest.raises(TypeError, match=r"x must be a floating-point array .* got dtype int64"):
        layer.forward(np.arange(3))
    layer.forward(np.ones((2, 3)))
    expected = r"dy must have the shape of the forward output \(2, 3\), got \(3, 2\)"
    with pytest.raises(ValueError, match=expected):
        layer.backward(np.ones((3, 2)))


@pytest.mark.parametrize("slope", [-0.1, 1.0, "0.1"])
def test_leaky_relu_rejects_bad_slopes(slope):
    with pytest.raises(ValueError, match=r"slope must be a number in \[0, 1\)"):
        LeakyReLU(slope)
