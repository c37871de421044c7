"""gradcheck.numerical and gradcheck.relative_error: finite differences, float64 only, exact
restore, the relative-error formula and the one-sided kink detector."""

import numpy as np
import pytest

from backprop_kit.gradcheck import numerical_gradient, numerical_vjp
from backprop_kit.gradcheck.numerical import finite_differences
from backprop_kit.gradcheck.relative_error import error_floor, find_kinks, relative_errors


def test_numerical_gradient_of_a_cubic_matches_the_formula():
    x = np.random.default_rng(0).standard_normal((3, 4))
    grad = numerical_gradient(lambda v: np.sum(v**3), x)
    assert grad.shape == (3, 4)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8, atol=1e-9)


def test_numerical_vjp_of_a_matrix_product_is_dy_times_the_transpose():
    rng = np.random.default_rng(1)
    x, A = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    dy = rng.standard_normal((4, 5))
    np.testing.assert_allclose(numerical_vjp(lambda v: v @ A, x, dy), dy @ A.T, rtol=1e-7)


def test_numerical_vjp_rejects_dy_of_the_wrong_shape():
    x = np.zeros((2, 3))
    expected = r"dy must have the shape of f\(x\) \(2, 3\), got \(3, 2\)"
    with pytest.raises(ValueError, match=expected):
        numerical_vjp(np.sin, x, np.zeros((3, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_non_float64_input_is_rejected_with_a_clear_message(dtype):
    x = np.ones((2, 3), dtype=dtype)
    with pytest.raises(TypeError, match=rf"float64 arrays; 'x' is {np.dtype(dtype).name}\. Use x"):
        numerical_gradient(np.sum, x)


def test_a_function_that_returns_an_array_is_rejected():
    with pytest.raises(ValueError, match=r"single number .* shape \(3,\); .* numerical_vjp"):
        numerical_gradient(np.sin, np.zeros(3))


def test_input_is_restored_bit_for_bit():
    x = np.random.default_rng(2).standard_normal((5, 2)) + 0.1
    before = x.copy()
    # Restoring by arithmetic (+h, -2h, +h) would leave some of these entries off in the last bit:
    naive = x.copy()
    naive += 1e-5
    naive -= 2e-5
    naive += 1e-5
    assert not np.array_equal(naive, before)
    numerical_gradient(lambda v: np.sum(np.tanh(v)), x)
    assert np.array_equal(x, before)


def test_input_is_restored_when_the_function_raises_midway():
    x = np.random.default_rng(3).standard_normal(6)
    before = x.copy()
    calls = []

    def fails_on_fourth_call(v):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(fails_on_fourth_call, x)
    assert np.array_equal(x, before)


def test_read_only_input_is_rejected():
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        numerical_gradient(np.sum, x)


def test_one_sided_slopes_of_abs_disagree_at_zero_and_agree_elsewhere():
    x = np.array([0.0, 1.0, -2.0, 4e-6])  # the last one is within h = 1e-5 of the kink
    slopes = finite_differences(lambda v: np.sum(np.abs(v)), x, [(0,), (1,), (2,), (3,)])
    np.testing.assert_allclose(slopes.forward, [1, 1, -1, 1], atol=1e-9)
    np.testing.assert_allclose(slopes.backward[:3], [-1, 1, -1], atol=1e-9)
    kinks = find_kinks(slopes.forward, slopes.backward, error_floor(slopes.centered))
    assert kinks.tolist() == [True, False, False, True]


def test_one_sided_slopes_of_a_curved_smooth_function_are_no_kink():
    x = np.linspace(-3, 3, 13)  # includes 0, where exp's slope is 1 and curvature is 1
    slopes = finite_differences(lambda v: np.sum(np.exp(v)), x, [(i,) for i in range(13)])
    assert not find_kinks(slopes.forward, slopes.backward, error_floor(slopes.centered)).any()


def test_relative_error_matches_hand_computed_values():
    a = np.array([1.0, -2.0, 1e-12, 0.0])
    n = np.array([1.1, -2.0, 0.0, 0.0])
    floor = 1e-8
    expected = [0.1 / 2.1, 0.0, 1e-12 / 1e-8, 0.0]
    np.testing.assert_allclose(relative_errors(a, n, floor), expected, rtol=1e-12)


def test_relative_error_is_inf_where_a_value_is_not_finite():
    errors = relative_errors(np.array([np.nan, 1.0]), np.array([1.0, np.inf]), 1e-8)
    assert errors.tolist() == [np.inf, np.inf]


def test_error_floor_is_a_thousandth_of_the_largest_gradient_or_1e_minus_8():
    assert error_floor(np.array([0.5, -4.0, np.nan])) == pytest.approx(4e-3)
    assert error_floor(np.zeros(3)) == 1e-8
