"""Pascanu et al. (2013) as reproduced in notebook 10: the exploding linear RNN and gradient
clipping, over several seeds; the RNN's backward checked by finite differences.

The criteria are the ones :mod:`backprop_experiments.clipping`'s docstring states.
"""

import numpy as np
import pytest

from backprop_experiments import clipping
from backprop_kit.gradcheck import check_gradients

SEEDS = range(5)


def test_rnn_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    params = {"W": 0.5 * rng.normal(size=(3, 3)), "U": rng.normal(size=(1, 3)),
              "V": rng.normal(size=(3, 1))}
    x, y = rng.normal(size=(6, 4, 1)), rng.normal(size=(4, 1))

    def forward(W, U, V):
        return clipping.rnn_loss_and_grads({"W": W, "U": U, "V": V}, x, y).loss

    def backward(dloss):
        grads = clipping.rnn_loss_and_grads(params, x, y).grads
        return {name: dloss * grad for name, grad in grads.items()}

    check_gradients(forward, backward, params, seed=1).raise_if_failed()


@pytest.mark.parametrize(("rho", "seed"), [(1.1, s) for s in SEEDS] + [(0.9, 0), (1.0, 1)])
def test_linear_rnn_gradient_scales_by_exactly_rho_per_step(rho, seed):
    """With W = rho Q every step back multiplies ||dL/dh_t|| by rho."""
    params_rng, data_rng = np.random.default_rng(seed).spawn(2)
    params = clipping.exploding_rnn(params_rng, rho=rho)
    x, y = clipping.leaky_sum_task(data_rng)
    norms = clipping.rnn_loss_and_grads(params, x, y).state_grad_norms
    steps_back = np.arange(50, -1, -1)
    np.testing.assert_allclose(norms / norms[-1], rho**steps_back, rtol=1e-9)
    if rho == 1.1:
        assert norms[0] / norms[-1] > 100  # 1.1**50 = 117


@pytest.fixture(scope="module")
def clip_runs():
    return {
        seed: {mode: clipping.clipping_experiment(seed, mode) for mode in ("none", "value", "norm")}
        for seed in SEEDS
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_unclipped_gradient_descent_diverges_on_the_exploding_rnn(clip_runs, seed):
    run = clip_runs[seed]["none"]
    assert run.diverged_at is not None and run.diverged_at <= 5
    assert run.grad_norm[0] > 1e3


@pytest.mark.parametrize("seed", SEEDS)
def test_both_clippings_bound_the_step_and_train(clip_runs, seed):
    for mode in ("value", "norm"):
        run = clip_runs[seed][mode]
        assert run.diverged_at is None and len(run.loss) == 200
        assert np.all(run.step_norm <= 1.0 * (1 + 1e-12))
        assert run.loss[-1] < 0.05 < 1e-3 * run.loss[0]


@pytest.mark.parametrize("seed", SEEDS)
def test_norm_clipping_keeps_the_direction_and_value_clipping_turns_it(clip_runs, seed):
    norm, value = clip_runs[seed]["norm"], clip_runs[seed]["value"]
    np.testing.assert_allclose(norm.cosine, 1.0, atol=1e-12)
    assert value.cosine[0] < 0.95
    # below the threshold norm clipping is a no-op: the applied gradient is the raw one
    below = norm.grad_norm < 1.0
    assert below.any()
    np.testing.assert_allclose(norm.step_norm[below], norm.grad_norm[below], rtol=1e-12)
    above = ~below
    np.testing.assert_allclose(norm.step_norm[above], 1.0, rtol=1e-12)


def test_clipping_experiment_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match=r"clip must be 'none', 'value' or 'norm', got 'both'"):
        clipping.clipping_experiment(0, "both")
