"""Dropout: statistics of the mask, eval-mode identity, gradients, errors."""

import numpy as np
import pytest

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import Dropout


class SameMaskDropout:
    """Dropout whose generator is re-seeded before every forward.

    Finite differences call forward many times; real dropout draws a new mask each time, so
    this adapter pins the mask to make the function being differentiated a fixed one.
    """

    def __init__(self, p, seed):
        self.layer = Dropout(p, rng=np.random.default_rng(seed))
        self.seed = seed
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.layer.rng = np.random.default_rng(self.seed)
        return self.layer.forward(x)

    def backward(self, dy):
        return self.layer.backward(dy)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_backward_matches_finite_differences_for_a_fixed_mask(p):
    x = np.random.default_rng(0).standard_normal((6, 5))
    check_layer(SameMaskDropout(p, seed=3), x, seed=1).raise_if_failed()


def test_dropout_backward_routes_gradient_through_the_kept_entries_only():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((8, 6))
    y = layer.forward(x)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    kept = y != 0
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, 2 * dy, 0.0))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_drops_a_fraction_p_and_preserves_the_mean(p):
    x = np.ones((500, 400))  # 200,000 entries
    y = Dropout(p, rng=np.random.default_rng(0)).forward(x)
    n = x.size
    dropped = np.mean(y == 0)
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p))  # survivors scaled by 1 / (1 - p)
    # E[y] = x: mean of (keep / (1 - p)) has standard error sqrt(p / ((1 - p) n))
    assert abs(y.mean() - 1) < 5 * np.sqrt(p / ((1 - p) * n))


def test_dropout_draws_a_new_mask_every_forward():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    x = np.ones((10, 10))
    assert not np.array_equal(layer.forward(x), layer.forward(x))


def test_dropout_in_eval_mode_is_the_identity():
    layer = Dropout(0.5, rng=np.random.default_rng(0)).eval()
    x = np.random.default_rng(1).standard_normal((4, 3))
    dy = np.random.default_rng(2).standard_normal((4, 3))
    assert layer.forward(x) is x
    assert layer.backward(dy) is dy
    layer.train()
    assert not np.array_equal(layer.forward(x), x)


def test_dropout_keeps_float32():
    x = np.ones((3, 4), dtype=np.float32)
    layer = Dropout(0.25, rng=np.random.default_rng(0))
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(x).dtype == np.float32


def test_dropout_errors_are_clear():
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\), got 1"):
        Dropout(1, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"rng must be a np.random.Generator.*got int"):
        Dropout(0.5, rng=0)
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"Dropout\(p=0.5\)\.backward was called before forward"):
        layer.backward(np.ones(3))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3\), got \(2, 2\)"):
        layer.backward(np.ones((2, 2)))
