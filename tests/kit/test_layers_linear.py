"""Linear: gradients by finite differences, the forward formula, dtypes and error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import Linear


def random_batch(rng, n, features):
    """Standard-normal float64 batch: entries of both signs."""
    return rng.standard_normal((n, features))


@pytest.mark.parametrize("init", ["he", "xavier"])
def test_linear_backward_matches_finite_differences(init):
    rng = np.random.default_rng(0)
    layer = Linear(7, 4, rng=rng, init=init)
    layer.params["b"][...] = rng.standard_normal(4)  # a nonzero bias, so it is really tested
    report = check_layer(layer, random_batch(rng, 5, 7), seed=1)
    report.raise_if_failed()
    assert {array.name for array in report.arrays} == {"x", "W", "b"}


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 5),
    in_features=st.integers(1, 6),
    out_features=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_linear_gradients_are_right_for_all_small_shapes(n, in_features, out_features, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(in_features, out_features, rng=rng)
    layer.params["b"][...] = rng.standard_normal(out_features)
    check_layer(layer, random_batch(rng, n, in_features), seed=seed).raise_if_failed()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), in_features=st.integers(1, 6), out_features=st.integers(1, 6))
def test_linear_forward_is_the_affine_map_row_by_row(n, in_features, out_features):
    rng = np.random.default_rng(n * 100 + in_features * 10 + out_features)
    layer = Linear(in_features, out_features, rng=rng)
    layer.params["b"][...] = rng.standard_normal(out_features)
    x = random_batch(rng, n, in_features)
    y = layer.forward(x)
    assert y.shape == (n, out_features)
    W, b = layer.params["W"], layer.params["b"]
    for row in range(n):
        expected = [
            sum(x[row, i] * W[i, j] for i in range(in_features)) + b[j]
            for j in range(out_features)
        ]
        np.testing.assert_allclose(y[row], expected, rtol=1e-12, atol=1e-12)


def test_gradient_checker_catches_a_linear_with_a_planted_bug():
    class MeanBiasLinear(Linear):
        """Planted bug: db averages dy over the batch instead of summing it."""

        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["b"] /= dy.shape[0]
            return dx

    rng = np.random.default_rng(0)
    layer = MeanBiasLinear(5, 3, rng=rng)
    report = check_layer(layer, random_batch(rng, 4, 5), seed=2)
    assert not report.passed
    assert not report["b"].passed
    assert report["W"].passed and report["x"].passed


def test_backward_writes_into_the_same_gradient_arrays_every_time():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, rng=rng)
    grad_W, grad_b = layer.grads["W"], layer.grads["b"]
    for _ in range(2):
        x = random_batch(rng, 4, 3)
        dy = rng.standard_normal((4, 2))
        layer.forward(x)
        layer.backward(dy)
        assert layer.grads["W"] is grad_W and layer.grads["b"] is grad_b
        np.testing.assert_allclose(grad_W, x.T @ dy)  # overwritten, not accumulated


def test_input_grad_false_skips_dx_but_keeps_parameter_gradients():
    rng = np.random.default_rng(0)
    full = Linear(6, 3, rng=np.random.default_rng(1))
    first = Linear(6, 3, rng=np.random.default_rng(1), input_grad=False)
    x, dy = random_batch(rng, 4, 6), rng.standard_normal((4, 3))
    full.forward(x)
    first.forward(x)
    assert full.backward(dy) is not None
    assert first.backward(dy) is None
    for name in ("W", "b"):
        np.testing.assert_array_equal(first.grads[name], full.grads[name])


def test_float32_layer_keeps_float32_end_to_end():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, rng=rng, dtype=np.float32)
    x = random_batch(rng, 5, 4).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["W"].dtype == np.float32
    W = layer.params["W"].astype(np.float64)
    np.testing.assert_allclose(y, x.astype(np.float64) @ W, rtol=1e-5, atol=1e-5)


def test_forward_does_not_modify_its_input():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, rng=rng)
    x = random_batch(rng, 5, 4)
    before = x.copy()
    layer.backward(np.ones_like(layer.forward(x)))
    np.testing.assert_array_equal(x, before)


def test_linear_shape_errors_name_expected_and_actual_shapes():
    layer = Linear(64, 32, rng=np.random.default_rng(0))
    expected = r"Linear\(64 -> 32\)\.forward: x must have shape \(N, 64\), got \(10, 63\)"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros((10, 63)))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 64\), got \(64,\)"):
        layer.forward(np.zeros(64))
    layer.forward(np.zeros((10, 64)))
    with pytest.raises(ValueError, match=r"dy must have shape \(10, 32\), got \(10, 31\)"):
        layer.backward(np.zeros((10, 31)))


def test_linear_dtype_errors_say_how_to_fix_them():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"x must be a floating-point array .* got dtype int64"):
        layer.forward(np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=r"x is float32 but the layer's parameters are float64"):
        layer.forward(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(TypeError, match=r"x must be a numpy array, got list"):
        layer.forward([[0.0, 0.0, 0.0]])


def test_backward_before_forward_raises_runtime_error():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"Linear\(3 -> 2\)\.backward was called before forward"):
        layer.backward(np.zeros((4, 2)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_features": 0, "out_features": 2}, r"in_features must be a positive integer, got 0"),
        ({"in_features": 3, "out_features": 2.5}, r"out_features must be a positive integer"),
        ({"in_features": 3, "out_features": 2, "init": "glorot"}, r"init must be one of"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Linear(rng=np.random.default_rng(0), **kwargs)


def test_he_init_gives_relu_variance_and_zero_bias():
    layer = Linear(400, 300, rng=np.random.default_rng(0))
    assert abs(layer.params["W"].var() / (2 / 400) - 1) < 0.02
    assert not layer.params["b"].any()
    assert repr(layer) == "Linear(400 -> 300)"
