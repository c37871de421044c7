"""Ioffe & Szegedy (2015) as reproduced in notebook 10: gradient flow, training, and the
scale-invariance identities, over several seeds.

The criteria are the ones :mod:`backprop_experiments.batch_norm`'s docstring states.
"""

import pytest

from backprop_experiments import batch_norm

SEEDS = range(5)
TRAINING_SEEDS = range(3)  # the 400-step runs are the expensive ones


@pytest.fixture(scope="module")
def batchnorm_runs():
    return {
        seed: {bn: batch_norm.batchnorm_experiment(seed, bn) for bn in (False, True)}
        for seed in TRAINING_SEEDS
    }


@pytest.mark.parametrize("seed", TRAINING_SEEDS)
def test_batchnorm_restores_the_gradient_of_the_first_layer(batchnorm_runs, seed):
    """Sec. 4.1 setup: ||dL/dW1|| / ||dL/dW3|| at N(0, 0.01^2) initialisation."""
    runs = batchnorm_runs[seed]
    assert runs[False].grad_ratio < 0.01
    assert 0.5 <= runs[True].grad_ratio <= 2


@pytest.mark.parametrize("seed", TRAINING_SEEDS)
def test_batchnorm_network_learns_in_400_steps_and_the_plain_one_does_not(batchnorm_runs, seed):
    runs = batchnorm_runs[seed]
    assert runs[True].final_accuracy - runs[False].final_accuracy > 0.4
    assert runs[False].final_accuracy < 0.2  # ten classes: chance is 0.1
    assert runs[True].final_accuracy > 0.85
    assert runs[True].train_loss.shape == (400,)
    assert runs[True].eval_steps[0] == 0 and runs[True].eval_steps[-1] == 400


@pytest.mark.parametrize("scale", [0.01, 10.0, 1000.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_is_invariant_to_the_scale_of_the_weights(seed, scale):
    """Sec. 3.3: BN((aW)u) = BN(Wu), same du, and dW scaled by 1/a."""
    errors = batch_norm.scale_invariance_errors(seed, scale)
    assert set(errors) == {"output", "input_gradient", "weight_gradient"}
    assert max(errors.values()) < 1e-8


def test_scale_invariance_breaks_when_eps_matters():
    """The check can fail: with eps = 1e-2 and weights scaled down 100x, eps dominates var."""
    errors = batch_norm.scale_invariance_errors(0, 0.01, eps=1e-2)
    assert min(errors.values()) > 1e-2
