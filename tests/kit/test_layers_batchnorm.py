"""BatchNorm1d / BatchNorm2d: gradients in both modes, the forward formula, running statistics,
the compact backward's identities, dtypes and error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import BatchNorm1d, BatchNorm2d


def random_affine(layer, rng):
    """Give gamma and beta values of both signs, so that neither is the identity."""
    layer.params["gamma"][...] = rng.normal(size=layer.num_features)
    layer.params["beta"][...] = rng.normal(size=layer.num_features)
    return layer


def warmed_up(layer, rng, shape, steps=5):
    """Run a few training forwards on shifted, scaled batches: running stats far from 0 and 1."""
    for _ in range(steps):
        layer.forward(3.0 + 2.0 * rng.normal(size=shape))
    return layer


def reference_batchnorm(x, gamma, beta, mean, var, eps):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, one feature (column) at a time."""
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        y[:, c] = gamma[c] * (x[:, c] - mean[c]) / np.sqrt(var[c] + eps) + beta[c]
    return y


def test_batchnorm1d_training_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    layer = random_affine(BatchNorm1d(4), rng)
    report = check_layer(layer, rng.normal(size=(6, 4)) * 3 + 1, seed=1)
    report.raise_if_failed()
    assert {array.name for array in report.arrays} == {"x", "gamma", "beta"}


def test_batchnorm1d_eval_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    layer = warmed_up(random_affine(BatchNorm1d(3), rng), rng, (7, 3)).eval()
    check_layer(layer, rng.normal(size=(5, 3)), seed=2).raise_if_failed()


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm2d_backward_matches_finite_differences_in_both_modes(training):
    rng = np.random.default_rng(2)
    layer = warmed_up(random_affine(BatchNorm2d(2), rng), rng, (3, 2, 4, 5))
    layer.train(training)
    check_layer(layer, rng.normal(size=(3, 2, 4, 5)), seed=3).raise_if_failed()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 6), features=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_batchnorm1d_gradients_are_right_for_all_small_shapes(n, features, seed):
    # n >= 3: with two values x_hat is +-1 whatever x is, and dx is only the tiny eps term
    rng = np.random.default_rng(seed)
    layer = random_affine(BatchNorm1d(features), rng)
    x = rng.normal(size=(n, features)) * 2
    check_layer(layer, x, seed=seed).raise_if_failed()
    layer.eval()
    check_layer(layer, x, seed=seed + 1).raise_if_failed()


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 3),
    channels=st.integers(1, 3),
    height=st.integers(1, 3),
    width=st.integers(3, 5),
    seed=st.integers(0, 2**16),
)
def test_batchnorm2d_gradients_are_right_for_all_small_shapes(n, channels, height, width, seed):
    rng = np.random.default_rng(seed)
    layer = random_affine(BatchNorm2d(channels), rng)
    check_layer(layer, rng.normal(size=(n, channels, height, width)), seed=seed).raise_if_failed()


def test_gradient_checker_catches_a_backward_that_ignores_the_batch_statistics():
    class ConstantStatistics(BatchNorm1d):
        """Planted bug: treats mu and var as constants in training mode (dx = gamma s dy)."""

        def backward(self, dy):
            super().backward(dy)
            return self.params["gamma"] * self.cache.inv_std * dy

    rng = np.random.default_rng(3)
    report = check_layer(random_affine(ConstantStatistics(3), rng), rng.normal(size=(5, 3)))
    assert not report["x"].passed
    assert report["gamma"].passed and report["beta"].passed


def test_training_forward_is_the_normalization_with_the_biased_batch_variance():
    rng = np.random.default_rng(4)
    layer = random_affine(BatchNorm1d(3, eps=1e-3), rng)
    x = rng.normal(size=(8, 3)) * np.array([0.5, 2.0, 7.0]) + np.array([-1.0, 0.0, 4.0])
    expected = reference_batchnorm(
        x, layer.params["gamma"], layer.params["beta"], x.mean(axis=0), x.var(axis=0), 1e-3
    )
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_with_identity_affine_each_feature_has_mean_zero_and_variance_one():
    rng = np.random.default_rng(5)
    y = BatchNorm1d(4, eps=0.0).forward(rng.normal(size=(10, 4)) * 5 - 3)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-12)


def test_running_statistics_follow_the_momentum_rule_with_the_unbiased_variance():
    rng = np.random.default_rng(6)
    layer = BatchNorm1d(3, momentum=0.25)
    batches = [rng.normal(size=(5, 3)) * 2 + 1 for _ in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for batch in batches:
        layer.forward(batch)
        mean = 0.75 * mean + 0.25 * batch.mean(axis=0)
        var = 0.75 * var + 0.25 * batch.var(axis=0, ddof=1)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)


def test_eval_mode_uses_the_running_statistics_and_does_not_update_them():
    rng = np.random.default_rng(7)
    layer = warmed_up(random_affine(BatchNorm1d(3), rng), rng, (6, 3)).eval()
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    x = rng.normal(size=(4, 3))
    expected = reference_batchnorm(
        x, layer.params["gamma"], layer.params["beta"], mean, var, layer.eps
    )
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_array_equal(layer.running_var, var)
    # one row is enough in eval mode: no batch statistic is needed
    assert layer.forward(x[:1]).shape == (1, 3)


def test_running_statistics_converge_to_those_of_a_repeated_batch():
    rng = np.random.default_rng(8)
    layer = BatchNorm2d(2, momentum=0.5)
    x = rng.normal(size=(4, 2, 3, 3)) * np.array([1.0, 3.0])[:, None, None] + 2
    for _ in range(60):
        layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)


def test_batchnorm2d_equals_batchnorm1d_on_pixels_as_rows():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(3, 4, 2, 5))
    dy = rng.normal(size=x.shape)
    image, dense = BatchNorm2d(4), BatchNorm1d(4)
    for layer in (image, dense):
        layer.params["gamma"][...] = np.array([0.5, -1.0, 2.0, 1.5])
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 4)  # every pixel of every image is one row
    y_image, y_dense = image.forward(x), dense.forward(rows)
    np.testing.assert_allclose(y_image.transpose(0, 2, 3, 1).reshape(-1, 4), y_dense, rtol=1e-12)
    dx_image = image.backward(dy)
    dx_dense = dense.backward(dy.transpose(0, 2, 3, 1).reshape(-1, 4))
    np.testing.assert_allclose(dx_image.transpose(0, 2, 3, 1).reshape(-1, 4), dx_dense,
                               rtol=1e-10, atol=1e-12)
    for name in ("gamma", "beta"):
        np.testing.assert_allclose(image.grads[name], dense.grads[name], rtol=1e-12)
    np.testing.assert_allclose(image.running_var, dense.running_var, rtol=1e-12)


def test_training_dx_sums_to_zero_and_is_orthogonal_to_x_hat():
    # exact for eps = 0; eps > 0 leaves sum(dx * x_hat) of order eps / var
    rng = np.random.default_rng(10)
    layer = random_affine(BatchNorm1d(5, eps=0.0), rng)
    layer.forward(rng.normal(size=(9, 5)))
    dx = layer.backward(rng.normal(size=(9, 5)))
    np.testing.assert_allclose(dx.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose((dx * layer.cache.x_hat).sum(axis=0), 0.0, atol=1e-12)


def test_backward_overwrites_the_same_gradient_arrays():
    rng = np.random.default_rng(11)
    layer = BatchNorm1d(3)
    dgamma, dbeta = layer.grads["gamma"], layer.grads["beta"]
    for _ in range(2):
        layer.forward(rng.normal(size=(4, 3)))
        dy = rng.normal(size=(4, 3))
        layer.backward(dy)
        assert layer.grads["gamma"] is dgamma and layer.grads["beta"] is dbeta
        np.testing.assert_allclose(dbeta, dy.sum(axis=0), rtol=1e-12)


def test_float32_layer_keeps_float32_and_forward_does_not_modify_its_input():
    rng = np.random.default_rng(12)
    layer = BatchNorm2d(3, dtype=np.float32)
    x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    before = x.copy()
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["gamma"].dtype == layer.running_var.dtype
    assert y.dtype == np.float32
    np.testing.assert_array_equal(x, before)


def test_batchnorm_shape_and_dtype_errors_name_expected_and_actual():
    layer = BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\)\.forward: x must have shape \(N, 4\), "
                                         r"got \(5, 3\)"):
        layer.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\)\.forward: x must have shape "
                                         r"\(N, 3, H, W\), got \(2, 3, 4\)"):
        BatchNorm2d(3).forward(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match=r"x is float32 but the layer's parameters are float64"):
        layer.forward(np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(TypeError, match=r"x must be a floating-point array .* got dtype int64"):
        layer.forward(np.zeros((5, 4), dtype=np.int64))
    layer.forward(np.random.default_rng(0).normal(size=(5, 4)))
    with pytest.raises(ValueError, match=r"dy must have shape \(5, 4\), got \(4, 5\)"):
        layer.backward(np.zeros((4, 5)))


def test_training_with_one_value_per_feature_says_what_to_do():
    with pytest.raises(ValueError, match=r"at least 2 values per feature .* got 1 .*call eval\(\)"):
        BatchNorm1d(3).forward(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"got 1 \(input shape \(1, 2, 1, 1\)\)"):
        BatchNorm2d(2).forward(np.ones((1, 2, 1, 1)))


def test_backward_before_forward_raises_runtime_error():
    with pytest.raises(RuntimeError, match=r"BatchNorm1d\(2\)\.backward was called before forward"):
        BatchNorm1d(2).backward(np.zeros((3, 2)))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_features": 0}, ValueError, r"num_features must be a positive integer, got 0"),
        ({"num_features": 2.0}, ValueError, r"num_features must be a positive integer"),
        ({"num_features": 2, "momentum": 1.5}, ValueError, r"momentum must be a finite number "
                                                           r"in \[0, 1\], got 1.5"),
        ({"num_features": 2, "eps": -1e-5}, ValueError, r"eps must be a finite number >= 0"),
        ({"num_features": 2, "dtype": np.int32}, TypeError, r"dtype must be a floating-point"),
    ],
)
def test_bad_constructor_arguments_are_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        BatchNorm1d(**kwargs)


def test_parameters_start_as_the_identity_affine_map():
    layer = BatchNorm2d(3)
    np.testing.assert_array_equal(layer.params["gamma"], np.ones(3))
    np.testing.assert_array_equal(layer.params["beta"], np.zeros(3))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
    np.testing.assert_array_equal(layer.running_var, np.ones(3))
    assert repr(layer) == "BatchNorm2d(3)"
