"""Weight initialisation: variances match Glorot/He theory, seeding, dtypes, fan handling."""

import numpy as np
import pytest

from backprop_kit.init import he_normal, he_uniform, xavier_normal, xavier_uniform

FAN_IN, FAN_OUT = 300, 500  # 150,000 samples: the sample variance is within ~0.5% (normal)

# (initialiser, theoretical variance, bound of the support or None for a normal)
THEORY = [
    (xavier_uniform, 2 / (FAN_IN + FAN_OUT), np.sqrt(6 / (FAN_IN + FAN_OUT))),
    (xavier_normal, 2 / (FAN_IN + FAN_OUT), None),
    (he_uniform, 2 / FAN_IN, np.sqrt(6 / FAN_IN)),
    (he_normal, 2 / FAN_IN, None),
]


@pytest.mark.parametrize(("init", "variance", "bound"), THEORY, ids=[t[0].__name__ for t in THEORY])
def test_initialiser_variance_matches_theory_within_sampling_error(init, variance, bound):
    weights = init((FAN_IN, FAN_OUT), np.random.default_rng(0))
    n = weights.size
    # standard error of a sample variance: sqrt(2/n) * var (normal), sqrt(0.8/n) * var (uniform)
    assert abs(weights.var() - variance) < 5 * np.sqrt(2 / n) * variance
    assert abs(weights.mean()) < 5 * np.sqrt(variance / n)
    if bound is not None:
        assert np.abs(weights).max() <= bound
        assert np.abs(weights).max() > 0.99 * bound  # really uniform on [-a, a], not narrower


@pytest.mark.parametrize("init", [xavier_uniform, xavier_normal, he_uniform, he_normal])
def test_same_seed_gives_same_weights_and_other_seed_other_weights(init):
    first = init((7, 5), np.random.default_rng(42))
    again = init((7, 5), np.random.default_rng(42))
    other = init((7, 5), np.random.default_rng(43))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("init", [xavier_uniform, xavier_normal, he_uniform, he_normal])
def test_float32_weights_are_the_float64_ones_rounded(init):
    weights64 = init((6, 4), np.random.default_rng(1))
    weights32 = init((6, 4), np.random.default_rng(1), dtype=np.float32)
    assert weights32.dtype == np.float32
    np.testing.assert_array_equal(weights32, weights64.astype(np.float32))


def test_he_uses_fan_in_only_and_xavier_both_fans():
    rng = np.random.default_rng(0)
    wide = he_normal((200, 2000), rng)
    # He ignores fan_out: 2/200, ten times Glorot's 2/2200 for this shape
    assert abs(wide.var() / 0.01 - 1) < 0.03
    glorot = xavier_normal((200, 2000), rng)
    assert abs(glorot.var() / (2 / 2200) - 1) < 0.03


def test_conv_shape_needs_explicit_fans_and_uses_them():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"fan_in can only be inferred from a 2-D shape"):
        he_normal((16, 3, 3, 3), rng)
    with pytest.raises(ValueError, match=r"fan_out"):
        xavier_uniform((16, 3, 3, 3), rng, fan_in=27)
    kernel = he_normal((64, 32, 3, 3), rng, fan_in=32 * 9)
    assert kernel.shape == (64, 32, 3, 3)
    assert abs(kernel.var() / (2 / 288) - 1) < 0.03


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match=r"rng must be a np.random.Generator.*got int"):
        he_normal((3, 4), 0)
    with pytest.raises(TypeError, match=r"floating-point dtype, got int64"):
        xavier_normal((3, 4), np.random.default_rng(0), dtype=np.int64)
    with pytest.raises(ValueError, match=r"fan_in must be positive, got 0"):
        he_uniform((0, 4), np.random.default_rng(0))
