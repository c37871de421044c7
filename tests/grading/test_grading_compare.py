"""check, check_close and check_shape: silent when right, targeted messages when wrong."""

import re
import warnings

import numpy as np
import pytest

from backprop_grading import GradingFailure, check, check_close, check_shape

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))  # non-square, batch of 4, values of both signs
# literal numbers, so expected messages need no arithmetic
M = np.array([[0.25, -1.5, 2.0], [3.0, 0.5, -0.75], [1.0, -2.0, 4.0], [0.125, 6.0, -3.5]])


def failure_message(actual, expected, message="", **kwargs):
    with pytest.raises(GradingFailure) as info:
        check_close(actual, expected, message, **kwargs)
    return str(info.value)


def test_check_passes_silently_and_fails_with_the_message(capfd):
    check(True, "never shown")
    check(np.bool_(True), "never shown")
    with pytest.raises(GradingFailure, match=r"^dx must have the shape of dy$"):
        check(False, "dx must have the shape of dy")
    assert capfd.readouterr() == ("", "")


def test_check_accepts_one_boolean_but_refuses_arrays_and_other_objects():
    check(np.array([0.5]) > 0, "a one-entry comparison is a single truth value")
    with pytest.raises(GradingFailure, match="^negative$"):
        check(np.array([[-0.5]]) > 0, "negative")
    with pytest.raises(TypeError, match=r"got ndarray of shape \(3,\).*check_close"):
        check(np.ones(3) > 0, "ambiguous")
    with pytest.raises(TypeError, match=r"got list: "):
        check([0.0], "a non-empty list is truthy, but is not a condition")


def test_check_close_is_silent_for_a_correct_answer_within_tolerance(capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_close(X * (1 + 1e-8), X, "hint", name="dx")
        check_close(np.array([np.inf, -np.inf, np.nan, 1.0]),
                    np.array([np.inf, -np.inf, np.nan, 1.0]))  # inf - inf must not warn
        check_close(M.tolist(), M)  # a list with the right values is accepted
        check_close(0.1 + 0.2, 0.3, name="sum")
    assert caught == []
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("actual, expected_message", [
    (None, "dx is None, expected an array of shape (4, 3): did your function forget to "
           "`return` its result?"),
    ((M, M), "dx is a tuple of 2 items, expected an array of shape (4, 3): return the array "
             "itself (`return a, b` or a trailing comma makes a tuple)."),
    ([1.0, 2.0, 3.0], "dx is a list of length 3, expected an array of shape (4, 3)."),
    ([[1.0, 2.0], [3.0]], "dx is a list that numpy cannot turn into an array (rows of "
                          "different lengths?), expected an array of shape (4, 3)."),
    ("0.25", "dx is a str, expected an array of shape (4, 3) (a numpy array or number)."),
    ({"dx": M}, "dx is a dict, expected an array of shape (4, 3) (a numpy array or number)."),
    (M.T, "dx has the wrong shape: expected shape (4, 3), got (3, 4) (transposed?)."),
    (M.sum(axis=0), "dx has the wrong shape: expected shape (4, 3), got (3,) (summed or "
                    "averaged over one axis too many?)."),
    (M.reshape(2, 6), "dx has the wrong shape: expected shape (4, 3), got (2, 6) (same "
                      "entries in another layout: a reshape, transpose or keepdims?)."),
    (M.astype(np.float32), "dx has dtype float32, expected float64: keep full precision (look "
                           "for astype or a float32 array)."),
    (M.astype(np.int64), "dx has dtype int64, expected float64: an integer array somewhere "
                         "(np.zeros_like of an int array, or // instead of /?)."),
    (M > 0, "dx has dtype bool, expected float64: turn the boolean mask into numbers "
            "(mask * 1.0)."),
    (np.array([[None] * 3] * 4), "dx has dtype object, expected numbers: it holds something "
                                 "else (None, strings or objects?)."),
])
def test_check_close_says_what_kind_of_thing_is_wrong(actual, expected_message):
    assert failure_message(actual, M, "look at the chain rule", name="dx") == (
        expected_message + "\nlook at the chain rule")


def test_check_close_reports_nan_and_inf_where_finite_values_are_expected():
    actual = M.copy()
    actual[1, 2] = np.nan
    actual[3, 0] = np.nan
    actual[2, 1] = np.inf
    assert failure_message(actual, M, name="dW") == (
        "dW contains 2 NaN and 1 inf where finite values are expected (3 of 12 entries (25%), "
        "first at index (1, 2)): look for 0/0, log(0), a square root of a negative number or "
        "an overflow in exp.")


def test_check_close_names_the_worst_entry_and_how_many_are_wrong():
    actual = M.copy()
    actual[2, 1] = -1.25    # expected -2.0: off by 0.75
    actual[0, 0] = 0.2505   # expected 0.25: off by 0.0005
    message = failure_message(actual, M, "dx = dy * (1 - y**2)", name="dx")
    assert message == ("dx is wrong at 2 of 12 entries (16.7%); the worst is at index (2, 1): "
                       "expected -2, got -1.25.\ndx = dy * (1 - y**2)")


def test_check_close_uses_one_dimensional_indices_and_scalar_wording():
    assert failure_message(np.array([1.0, 2.5, 3.0]), np.array([1.0, 2.0, 3.0])) == (
        "result is wrong at 1 of 3 entries (33.3%); the worst is at index 1: expected 2, "
        "got 2.5.")
    assert failure_message(0.5, np.log(2.0), name="loss") == (
        "loss is wrong: expected 0.693147, got 0.5.")


def test_numbers_get_more_digits_only_when_six_would_look_equal():
    assert failure_message(1.0000001, 1.0, rtol=1e-9, name="y") == (
        "y is wrong: expected 1, got 1.0000001.")
    assert failure_message(123456.789, 0.000123456789, name="y") == (
        "y is wrong: expected 0.000123457, got 123457.")


@pytest.mark.parametrize("actual, hint", [
    (-M, "Every entry has the opposite sign: check the sign of each term."),
    (M / 4, "Every entry is 0.25 times the expected value: a missing or extra constant factor "
            "(like 1/N of a mean over the batch, or the 2 of a square)?"),
    (np.zeros_like(M), "It is all zeros: is part of the computation missing?"),
])
def test_check_close_recognises_whole_result_mistakes(actual, hint):
    assert failure_message(actual, M, name="dx").endswith(hint)


def test_check_close_recognises_a_transposed_square_result():
    square = RNG.normal(size=(3, 3))
    assert failure_message(square.T, square, name="dW").endswith(
        "It equals the transpose of the expected value: check the order of a matrix product "
        "or a missing .T.")


def test_dtype_is_only_checked_against_a_numpy_expected_value():
    check_close(np.array([1, 2, 3]), [1.0, 2.0, 3.0])   # the author wrote a list: values only
    check_close(2.0, 2)
    check_close(np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int64))
    with pytest.raises(GradingFailure, match="dtype float64, expected float32: keep the dtype"):
        check_close(np.ones(2), np.ones(2, dtype=np.float32))
    assert "dtype int64, expected float64" in failure_message(np.array([1, 2]),
                                                              np.array([1.0, 2.0]))


def test_tolerances_are_honoured():
    check_close(1.001, 1.0, rtol=1e-2)
    check_close(1e-10, 0.0)                      # within the default atol=1e-9
    assert "expected 0, got 1e-07" in failure_message(1e-7, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        check_close(1.0, 1.0, rtol=-1.0)


def test_check_shape_is_silent_when_right(capfd):
    check_shape(X, (4, 3), "dx")
    check_shape(np.float64(2.0), (), "loss")
    check_shape(2.0, (), "loss")
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("actual, expected_message", [
    (X.T, "dx has the wrong shape: expected shape (4, 3), got (3, 4) (transposed?)."),
    (X[:, :, None], "dx has the wrong shape: expected shape (4, 3), got (4, 3, 1) (same entries "
                    "in another layout: a reshape, transpose or keepdims?)."),
    (X.sum(), "dx has the wrong shape: expected shape (4, 3), got () (a scalar) (summed or "
              "averaged over one axis too many?)."),
    (X.tolist(), "dx is a list of length 4, expected a numpy array of shape (4, 3): build it "
                 "with numpy operations or np.array(...)."),
    (None, "dx is None, expected an array of shape (4, 3): did your function forget to "
           "`return` its result?"),
    ((X, X), "dx is a tuple of 2 items, expected an array of shape (4, 3): return the array "
             "itself (`return a, b` or a trailing comma makes a tuple)."),
])
def test_check_shape_messages(actual, expected_message):
    with pytest.raises(GradingFailure) as info:
        check_shape(actual, (4, 3), "dx", message="dx has the shape of x")
    assert str(info.value) == expected_message + "\ndx has the shape of x"


def test_check_shape_refuses_a_bad_expected_shape():
    with pytest.raises(TypeError, match=re.escape("expected_shape must be a tuple")):
        check_shape(X, [4, 3], "dx")


TALL = np.linspace(-1.0, 2.0, 36).reshape(12, 3)  # 12 rows: an axis length above 10


@pytest.mark.parametrize("actual, expected, factor", [
    (M * 2, M, "2"),
    (M / 3, M, "0.333333"),
    (TALL * 12, TALL, "12"),      # a sum instead of a mean over the 12 rows
    (-M * 2, M, "-2"),
])
def test_a_plausible_constant_factor_explaining_every_entry_is_named(actual, expected, factor):
    assert failure_message(actual, expected, name="dx").endswith(
        f"Every entry is {factor} times the expected value: a missing or extra constant factor "
        f"(like 1/N of a mean over the batch, or the 2 of a square)?")


@pytest.mark.parametrize("actual, expected", [
    (M * 5 / 3, M),               # a clipping factor: proportional, but not a plausible constant
    (TALL * 11, TALL),            # neither small nor an axis length
    (M * 2 + 1e-5, M),            # roughly proportional only: something else is wrong
    (M * 2 * (1 + 1e-4 * np.cos(M)), M),
])
def test_an_odd_or_approximate_factor_is_not_called_a_constant_factor(actual, expected):
    assert "times the expected value" not in failure_message(actual, expected, name="dx")


def test_the_factor_guess_covers_a_number_and_can_be_switched_off():
    assert failure_message(1.5, 0.75, name="loss") == (
        "loss is wrong: expected 0.75, got 1.5. It is 2 times the expected value: a missing or "
        "extra constant factor (like 1/N of a mean over the batch, or the 2 of a square)?")
    assert failure_message(-0.75, 0.75, name="loss").endswith(
        "It has the opposite sign: check the sign of each term.")
    assert failure_message(1.1, 0.75, name="loss") == "loss is wrong: expected 0.75, got 1.1."
    assert failure_message(M * 2, M, "hint", name="dx", factor_hint=False) == (
        "dx is wrong at 12 of 12 entries (100%); the worst is at index (3, 1): expected 6, "
        "got 12.\nhint")
