"""He et al. (2016) as reproduced in notebook 10: skip connections carry the gradient through
50 layers, over five seeds.

The criteria are the ones :mod:`backprop_experiments.residual`'s docstring states.
"""

import numpy as np
import pytest

from backprop_experiments.residual import residual_gradient_flow

SEEDS = range(5)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("seed", SEEDS)
def test_skip_connections_carry_the_gradient_through_50_layers(seed, activation):
    """Branch std 0.1/sqrt(n); ||dL/dh_0|| / ||dL/dh_50||."""
    residual = residual_gradient_flow(seed, residual=True, activation=activation)
    plain = residual_gradient_flow(seed, residual=False, activation=activation)
    assert residual.shape == plain.shape == (51,)
    assert 0.5 <= residual[0] / residual[-1] <= 3
    assert plain[0] / plain[-1] < 1e-6


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("seed", SEEDS)
def test_full_size_branches_make_residual_gradients_grow(seed, activation):
    norms = residual_gradient_flow(seed, residual=True, activation=activation, weight_scale=1.0)
    assert norms[0] / norms[-1] > 10


@pytest.mark.parametrize("seed", SEEDS)
def test_plain_stacks_with_a_matched_init_keep_the_gradient_too(seed):
    """The honest comparison: without skips, He (ReLU) and LeCun (tanh) scales also work."""
    relu = residual_gradient_flow(seed, residual=False, activation="relu",
                                  weight_scale=np.sqrt(2))
    tanh = residual_gradient_flow(seed, residual=False, activation="tanh", weight_scale=1.0)
    assert 0.2 <= relu[0] / relu[-1] <= 5
    assert 0.03 <= tanh[0] / tanh[-1] <= 0.5
