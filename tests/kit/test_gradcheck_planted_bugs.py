"""The gradient checker catches each planted bug in y = x @ W + b and names it in the hint.

x has shape (N=4, D=3), W (3, 5), b (5,), y (4, 5): no two axes share a size, so a factor 4
can only be N and a transposed W cannot have the right shape by accident.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_gradients


def linear_problem(plant_bug=None, shapes=((4, 3), (3, 5)), seed=0):
    """Forward, backward and inputs of y = x @ W + b; plant_bug(grads, dy, cache) edits grads."""
    rng = np.random.default_rng(seed)
    (n, d), (_, m) = shapes
    inputs = {
        "x": rng.standard_normal((n, d)),
        "W": rng.standard_normal((d, m)),
        "b": rng.standard_normal(m),
    }
    cache = {}

    def forward(x, W, b):
        cache.update(x=x, W=W)
        return x @ W + b

    def backward(dy):
        grads = {"x": dy @ cache["W"].T, "W": cache["x"].T @ dy, "b": dy.sum(axis=0)}
        if plant_bug is not None:
            plant_bug(grads, dy, cache)
        return grads

    return forward, backward, inputs


def test_correct_linear_layer_passes_with_tiny_errors():
    report = check_gradients(*linear_problem(), seed=1)
    assert report.passed
    assert [array.name for array in report.arrays] == ["x", "W", "b"]
    for array in report.arrays:
        assert array.max_rel_error < 1e-8
        assert array.hint is None and array.n_kinks == 0
        assert array.n_checked == array.n_total == np.prod(array.shape)


def double_W(grads, dy, cache):
    grads["W"] = 2 * grads["W"]


def halve_x(grads, dy, cache):
    grads["x"] = grads["x"] / 2


def mean_instead_of_sum_for_b(grads, dy, cache):
    grads["b"] = dy.mean(axis=0)


def sum_without_mean_for_W(grads, dy, cache):  # the true gradient is 1/4 of this
    grads["W"] = 4 * grads["W"]


def transposed_W(grads, dy, cache):
    grads["W"] = dy.T @ cache["x"]


def missing_batch_sum_for_b(grads, dy, cache):
    grads["b"] = dy


def b_summed_over_wrong_axis(grads, dy, cache):
    grads["b"] = dy.sum(axis=1)


def b_with_keepdims(grads, dy, cache):
    grads["b"] = dy.sum(axis=0, keepdims=True)


def row_2_of_x_wrong(grads, dy, cache):
    grads["x"][2] *= 1.5


def column_1_of_W_wrong(grads, dy, cache):
    grads["W"][:, 1] = -grads["W"][:, 1]


def one_entry_of_W_wrong(grads, dy, cache):
    grads["W"][1, 3] += 0.5


def sign_flip_on_x(grads, dy, cache):
    grads["x"] = -grads["x"]


def sign_flip_and_double_W(grads, dy, cache):
    grads["W"] = -2 * grads["W"]


def zeros_for_W(grads, dy, cache):
    grads["W"] = np.zeros_like(grads["W"])


def forgot_b(grads, dy, cache):
    del grads["b"]


def none_for_x(grads, dy, cache):
    grads["x"] = None


def odd_factor_on_b(grads, dy, cache):
    grads["b"] = 1.7 * grads["b"]


def noise_on_W(grads, dy, cache):
    grads["W"] = grads["W"] + np.random.default_rng(9).standard_normal(grads["W"].shape)


PLANTED = [
    (double_W, "W", ["analytic = 2 * numerical", "extra factor 2"]),
    (halve_x, "x", ["analytic = numerical / 2", "missing factor 2"]),
    (mean_instead_of_sum_for_b, "b", ["numerical / 4", "x.shape[0]", "divided by it"]),
    (sum_without_mean_for_W, "W", ["analytic = 4 * numerical", "x.shape[0]", "mean"]),
    (transposed_W, "W", ["transposed", "shape (5, 3), expected (3, 5)", "transpose matches"]),
    (missing_batch_sum_for_b, "b", ["missing sum over axis 0", "summed over axis 0 it matches"]),
    (b_summed_over_wrong_axis, "b", ["wrong axis", "summed over axis 1", "dy.sum(axis=0)"]),
    (b_with_keepdims, "b", ["shape (1, 5), expected (5,)", "keepdims"]),
    (row_2_of_x_wrong, "x", ["all 3 wrong entries are in row 2"]),
    (column_1_of_W_wrong, "W", ["all 3 wrong entries are in column 1"]),
    (one_entry_of_W_wrong, "W", ["only entry (1, 3) is wrong"]),
    (sign_flip_on_x, "x", ["sign flip", "analytic = -numerical"]),
    (sign_flip_and_double_W, "W", ["analytic = -2 * numerical", "sign is flipped", "factor 2"]),
    (zeros_for_W, "W", ["all zeros"]),
    (forgot_b, "b", ["missing gradient", "no 'b'", "'x', 'W'"]),
    (none_for_x, "x", ["missing gradient", "None"]),
    (odd_factor_on_b, "b", ["analytic = 1.7 * numerical", "constant factor"]),
    (noise_on_W, "W", ["15 of 15 checked entries are wrong", "no simple pattern"]),
]


@pytest.mark.parametrize(
    ("plant_bug", "culprit", "phrases"), PLANTED, ids=[bug.__name__ for bug, _, _ in PLANTED]
)
def test_planted_bug_fails_only_its_array_and_the_hint_names_it(plant_bug, culprit, phrases):
    report = check_gradients(*linear_problem(plant_bug), seed=1)
    assert not report.passed
    assert [a.name for a in report.arrays if not a.passed] == [culprit]
    hint = report[culprit].hint
    for phrase in phrases:
        assert phrase in hint, f"{phrase!r} not in hint {hint!r}"
    assert report[culprit].max_rel_error > 1e-4
    for other in report.arrays:
        if other.name != culprit:
            assert other.hint is None


def test_wrong_shape_report_keeps_the_returned_array_and_marks_nothing_compared():
    report = check_gradients(*linear_problem(transposed_W), seed=1)
    W = report["W"]
    assert W.analytic.shape == (5, 3) and W.numerical.shape == (3, 5)
    assert W.max_rel_error == np.inf and W.worst_index == ()
    assert np.isnan(W.analytic_at_worst) and np.isnan(W.numerical_at_worst)


def test_worst_entry_is_reported_with_both_values():
    report = check_gradients(*linear_problem(one_entry_of_W_wrong), seed=1)
    W = report["W"]
    assert W.worst_index == (1, 3)
    assert W.analytic_at_worst == pytest.approx(W.numerical_at_worst + 0.5, abs=1e-8)
    assert W.numerical_at_worst == W.numerical[1, 3]


def test_transpose_of_a_square_gradient_is_recognised_from_the_values():
    def transposed_square_W(grads, dy, cache):
        grads["W"] = grads["W"].T

    report = check_gradients(*linear_problem(transposed_square_W, ((4, 3), (3, 3))), seed=1)
    assert [a.name for a in report.arrays if not a.passed] == ["W"]
    assert "transpose of the numerical gradient" in report["W"].hint


def test_a_small_error_passes_with_a_looser_tolerance_and_fails_with_the_default():
    def slightly_off_b(grads, dy, cache):
        grads["b"] = grads["b"] * (1 + 1e-5)

    assert not check_gradients(*linear_problem(slightly_off_b), seed=1).passed
    assert check_gradients(*linear_problem(slightly_off_b), seed=1, tolerance=1e-4).passed


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 6), d=st.integers(1, 5), m=st.integers(1, 5), seed=st.integers(0, 999))
def test_for_all_small_shapes_correct_passes_and_factor_bugs_are_named(n, d, m, seed):
    shapes = ((n, d), (d, m))
    assert check_gradients(*linear_problem(None, shapes, seed), seed=seed).passed
    doubled = check_gradients(*linear_problem(double_W, shapes, seed), seed=seed)
    assert not doubled["W"].passed and "analytic = 2 * numerical" in doubled["W"].hint
    averaged = check_gradients(*linear_problem(mean_instead_of_sum_for_b, shapes, seed), seed=seed)
    assert not averaged["b"].passed
    assert f"numerical / {n}" in averaged["b"].hint and "x.shape[0]" in averaged["b"].hint
