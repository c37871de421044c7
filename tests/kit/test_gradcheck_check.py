"""check_gradients, check_layer, check_scalar_gradient: correct gradients pass, kinks are
recognised, the upstream gradient is random, inputs are restored, subsets and bad input."""

import numpy as np
import pytest

from backprop_kit.gradcheck import (
    GradCheckReport,
    check_gradients,
    check_layer,
    check_scalar_gradient,
)


class Affine:
    """A small layer following the kit's protocol, y = x @ W + b, whose backward overwrites
    the same gradient arrays every time (as the kit's layers do)."""

    def __init__(self, rng, d_in, d_out):
        self.params = {"W": rng.standard_normal((d_in, d_out)), "b": rng.standard_normal(d_out)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}

    def forward(self, x):
        self.cache = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        self.grads["W"][...] = self.cache.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class ReLU:
    params: dict = {}
    grads: dict = {}

    def forward(self, x):
        self.cache = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * (self.cache > 0)


def test_layer_object_passes_and_its_parameters_are_checked_by_key():
    rng = np.random.default_rng(0)
    report = check_layer(Affine(rng, 3, 5), rng.standard_normal((4, 3)), seed=2)
    assert isinstance(report, GradCheckReport) and report.passed
    assert [a.name for a in report.arrays] == ["x", "W", "b"]
    assert report["W"].numerical.shape == (3, 5)


def test_layer_gradients_are_copied_before_forward_runs_again():
    class ResetsGradsInForward(Affine):
        """Zeroes its gradient arrays at every forward: the checker must have copied them."""

        def forward(self, x):
            for grad in self.grads.values():
                grad.fill(0)
            return super().forward(x)

    rng = np.random.default_rng(1)
    assert check_layer(ResetsGradsInForward(rng, 3, 2), rng.standard_normal((4, 3))).passed


def test_layer_with_a_planted_bias_bug_fails_on_b_only():
    class MeanBias(Affine):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["b"][...] = dy.mean(axis=0)
            return dx

    rng = np.random.default_rng(2)
    report = check_layer(MeanBias(rng, 3, 5), rng.standard_normal((4, 3)))
    assert [a.name for a in report.arrays if not a.passed] == ["b"]
    assert "numerical / 4" in report["b"].hint


def test_tanh_passes():
    x = np.random.default_rng(3).standard_normal((4, 6)) * 2
    cache = {}

    def forward(x):
        cache["y"] = np.tanh(x)
        return cache["y"]

    report = check_gradients(forward, lambda dy: {"x": dy * (1 - cache["y"] ** 2)}, {"x": x})
    assert report.passed and report["x"].max_rel_error < 1e-7 and report["x"].n_kinks == 0


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_softmax_cross_entropy_passes_and_a_missing_mean_is_named():
    rng = np.random.default_rng(4)
    z, labels = rng.standard_normal((4, 3)) * 3, np.array([0, 2, 1, 2])
    rows = np.arange(4)

    def loss(z):
        return -np.mean(np.log(softmax(z)[rows, labels]))

    def grad(z):
        p = softmax(z)
        p[rows, labels] -= 1
        return p / 4

    good = check_scalar_gradient(loss, grad, z, name="z")
    assert good.passed and good["z"].max_rel_error < 1e-7
    bad = check_scalar_gradient(loss, lambda z: 4 * grad(z), z, name="z")
    assert not bad.passed and "analytic = 4 * numerical" in bad["z"].hint
    assert "z.shape[0]" in bad["z"].hint


def test_relu_inputs_within_h_of_zero_are_reported_as_kinks_not_bugs():
    x = np.random.default_rng(5).standard_normal((4, 6))
    x[np.abs(x) < 1e-2] = 0.5  # keep the random entries clear of the kink
    near_kink = [(0, 0), (1, 2), (3, 5)]
    for index, value in zip(near_kink, [3e-6, -7e-6, 0.0], strict=True):
        x[index] = value
    report = check_layer(ReLU(), x, seed=6)
    assert report.passed
    assert sorted(report["x"].kink_indices) == near_kink and report["x"].n_kinks == 3
    assert "3 kinks left out of the verdict" in str(report)


def test_relu_bug_is_still_caught_when_kinks_are_present():
    class NoMask(ReLU):
        def backward(self, dy):
            return dy

    x = np.random.default_rng(7).standard_normal((4, 6))
    x[0, 0] = 2e-6
    report = check_layer(NoMask(), x)
    assert not report.passed and report["x"].n_kinks == 1


def test_a_check_where_every_entry_is_a_kink_fails_and_says_why():
    report = check_scalar_gradient(np.abs, np.sign, np.array(0.0))
    assert not report.passed and report["x"].n_kinks == 1
    assert "every checked entry is at a kink" in report["x"].hint


def test_scalar_check_on_a_simple_function():
    x = np.array([0.3, -1.2, 2.0])

    def f(v):
        return np.sum(v * np.sin(v))

    good = check_scalar_gradient(f, lambda v: np.sin(v) + v * np.cos(v), x)
    assert good.passed and good["x"].shape == (3,)
    bad = check_scalar_gradient(f, lambda v: v * np.cos(v), x)  # forgot the product rule
    assert not bad.passed


def test_scalar_check_accepts_a_python_float():
    report = check_scalar_gradient(np.sin, np.cos, 1.3)
    assert report.passed and report["x"].worst_index == ()


def test_default_dy_is_random_normal_not_ones_and_depends_on_the_seed():
    seen = []
    x = np.random.default_rng(8).standard_normal((5, 7))

    def backward(dy):
        seen.append(dy.copy())
        return {"x": dy}

    for seed in (0, 0, 1):
        check_gradients(lambda x: x, backward, {"x": x}, seed=seed)
    first, again, other = seen
    assert first.shape == (5, 7)
    assert not np.allclose(first, 1.0) and len(np.unique(first)) == first.size
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert 0.5 < first.std() < 1.5 and (first < 0).any()


def test_given_dy_is_used():
    dy = np.arange(6.0).reshape(2, 3)
    received = []

    def backward(d):
        received.append(d)
        return {"x": d}

    check_gradients(lambda x: x, backward, {"x": np.ones((2, 3))}, dy=dy)
    assert received[0] is dy


def test_inputs_and_parameters_are_restored_exactly():
    rng = np.random.default_rng(9)
    layer, x = Affine(rng, 3, 5), rng.standard_normal((4, 3))
    params_before = {name: value.copy() for name, value in layer.params.items()}
    W_object, x_before = layer.params["W"], x.copy()
    check_layer(layer, x)
    assert np.array_equal(x, x_before)
    assert layer.params["W"] is W_object
    for name, value in params_before.items():
        assert np.array_equal(layer.params[name], value)


def test_subset_mode_checks_max_checks_random_entries_reproducibly():
    rng = np.random.default_rng(10)
    layer, x = Affine(rng, 20, 30), rng.standard_normal((8, 20))
    report = check_layer(layer, x, max_checks=7, seed=3)
    W = report["W"]
    assert report.passed and W.n_checked == 7 and W.n_total == 600
    assert np.isfinite(W.numerical).sum() == 7
    assert report["b"].n_checked == 7 and report["b"].n_total == 30
    assert "W: checked 7 of 600 entries" in str(report)
    same = check_layer(layer, x, max_checks=7, seed=3)["W"]
    assert np.array_equal(np.isfinite(same.numerical), np.isfinite(W.numerical))


def test_subset_mode_still_catches_a_bug():
    class DoubleW(Affine):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"] *= 2
            return dx

    rng = np.random.default_rng(11)
    report = check_layer(DoubleW(rng, 20, 30), rng.standard_normal((8, 20)), max_checks=10)
    assert not report["W"].passed and "analytic = 2 * numerical" in report["W"].hint


def test_float32_inputs_and_parameters_are_rejected_by_name():
    rng = np.random.default_rng(12)
    layer = Affine(rng, 3, 2)
    with pytest.raises(TypeError, match=r"'x' is float32\. Use x\.astype\(np\.float64\)"):
        check_layer(layer, rng.standard_normal((4, 3)).astype(np.float32))
    layer.params["W"] = layer.params["W"].astype(np.float32)
    with pytest.raises(TypeError, match=r"'W' is float32"):
        check_layer(layer, rng.standard_normal((4, 3)))
    with pytest.raises(TypeError, match=r"'x' is int64"):
        check_scalar_gradient(np.sum, np.ones_like, np.arange(3))


def test_forward_returning_float32_is_rejected():
    with pytest.raises(TypeError, match="forward must return a float64 array, got float32"):
        check_gradients(lambda x: x.astype(np.float32), lambda dy: {"x": dy}, {"x": np.ones(3)})


def test_bad_arguments_raise_clear_errors():
    x = np.ones((2, 3))
    identity, passthrough = (lambda x: x), (lambda dy: {"x": dy})
    with pytest.raises(ValueError, match=r"dy must have the shape of forward's output \(2, 3\)"):
        check_gradients(identity, passthrough, {"x": x}, dy=np.ones((3, 2)))
    with pytest.raises(TypeError, match="backward must return a dict"):
        check_gradients(identity, lambda dy: dy, {"x": x})
    with pytest.raises(ValueError, match="inputs is empty"):
        check_gradients(identity, passthrough, {})
    with pytest.raises(ValueError, match="max_checks must be a positive integer"):
        check_gradients(identity, passthrough, {"x": x}, max_checks=0)
    with pytest.raises(ValueError, match="tolerance must be a positive number"):
        check_gradients(identity, passthrough, {"x": x}, tolerance=-1)
    with pytest.raises(ValueError, match="0 < h < 1"):
        check_gradients(identity, passthrough, {"x": x}, h=0)
    with pytest.raises(TypeError, match=r"check_layer: layer \(object\) is not a layer: it lacks "
                       r"forward, backward, params, grads \(to check a pair of functions"):
        check_layer(object(), x)
