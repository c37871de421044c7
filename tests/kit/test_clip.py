"""Gradient clipping: the global norm, the norm after clipping, the direction, the no-op case,
clipping by value and error messages."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.clip import clip_grad_norm, clip_grad_value, global_norm


def some_gradients(seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(shape) for shape in [(3, 4), (4,), (2, 2, 2)]]


def test_global_norm_is_the_norm_of_all_entries_as_one_vector():
    grads = some_gradients(0)
    flat = np.concatenate([g.ravel() for g in grads])
    assert global_norm(grads) == pytest.approx(math.sqrt(sum(v * v for v in flat)), rel=1e-14)


def test_clipping_above_the_threshold_sets_the_norm_to_it_and_keeps_the_direction():
    grads = some_gradients(1, scale=10.0)
    before = [g.copy() for g in grads]
    arrays = list(grads)
    norm = clip_grad_norm(grads, max_norm=2.5)
    assert norm == pytest.approx(global_norm(before), rel=1e-14)
    assert norm > 2.5
    assert global_norm(grads) == pytest.approx(2.5, rel=1e-12)
    assert global_norm(grads) <= 2.5 * (1 + 1e-12)
    for g, g0, array in zip(grads, before, arrays, strict=True):
        assert g is array  # in place
        np.testing.assert_allclose(g, g0 * (2.5 / norm), rtol=1e-13)  # same factor everywhere


def test_clipping_below_the_threshold_changes_nothing():
    grads = some_gradients(2)
    before = [g.copy() for g in grads]
    norm = clip_grad_norm(grads, max_norm=1e3)
    assert norm == pytest.approx(global_norm(before))
    for g, g0 in zip(grads, before, strict=True):
        np.testing.assert_array_equal(g, g0)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    scale=st.floats(1e-3, 1e3),
    max_norm=st.floats(1e-2, 1e2),
)
def test_after_clipping_the_norm_never_exceeds_the_threshold(seed, scale, max_norm):
    grads = some_gradients(seed, scale)
    before = [g.copy() for g in grads]
    norm = clip_grad_norm(grads, max_norm)
    after = global_norm(grads)
    assert after <= max_norm * (1 + 1e-12)
    assert after == pytest.approx(min(norm, max_norm), rel=1e-12)
    cosine = sum(np.vdot(g, g0) for g, g0 in zip(grads, before, strict=True)) / (after * norm)
    assert cosine == pytest.approx(1.0, rel=1e-12)


def test_clip_accepts_a_generator_of_float32_gradients():
    grads = [np.full(4, 3.0, dtype=np.float32), np.full(2, 4.0, dtype=np.float32)]
    norm = clip_grad_norm((g for g in grads), max_norm=1.0)
    assert norm == pytest.approx(math.sqrt(4 * 9 + 2 * 16))
    assert grads[0].dtype == np.float32
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-6)


def test_clip_grad_value_clips_each_entry_in_place():
    grad = np.array([[-3.0, 0.5], [2.0, -0.25]])
    other = np.array([10.0])
    array = grad
    clip_grad_value([grad, other], limit=1.0)
    assert grad is array
    np.testing.assert_array_equal(grad, [[-1.0, 0.5], [1.0, -0.25]])
    np.testing.assert_array_equal(other, [1.0])


def test_clipping_an_overflowed_gradient_raises():
    with pytest.raises(FloatingPointError, match=r"gradient norm is inf"):
        clip_grad_norm([np.array([np.inf, 1.0])], 1.0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: clip_grad_norm([np.ones(2)], 0.0), ValueError,
         r"max_norm must be a positive finite number, got 0.0"),
        (lambda: clip_grad_norm([np.ones(2)], math.inf), ValueError, r"max_norm must be"),
        (lambda: clip_grad_value([np.ones(2)], -1), ValueError, r"limit must be a positive"),
        (lambda: clip_grad_norm(np.ones(2), 1.0), TypeError, r"got a single array"),
        (lambda: clip_grad_norm([(np.ones(2), np.ones(2))], 1.0), TypeError,
         r"gradient 0 must be a floating-point numpy array, got tuple"),
        (lambda: clip_grad_norm([np.ones(2, dtype=int)], 1.0), TypeError,
         r"gradient 0 must be a floating-point numpy array, got dtype int64"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
