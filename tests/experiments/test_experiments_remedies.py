"""The remedies experiments of notebook 10 reproduce the published results, over several seeds.

Criteria from shared/notes/papers.md (He et al. 2015; Ioffe & Szegedy 2015; He et al. 2016;
Pascanu et al. 2013), plus the ones notebook 10's prose states about the same runs.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from backprop_experiments import remedies
from backprop_kit.gradcheck import check_gradients

SEEDS = range(5)
TRAINING_SEEDS = range(3)  # the 400-step batch-norm runs are the expensive ones


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """These matrices are small: one BLAS thread is fastest, and the machine is shared."""
    with threadpool_limits(limits=1):
        yield


def spread_ratio(probe):
    return probe.activation_std[-1] / probe.activation_std[0]


def gradient_ratio(probe):
    return probe.bias_grad_norm[0] / probe.bias_grad_norm[-1]


# ---------------------------------------------------------------- initialisation, activations


@pytest.mark.parametrize("seed", SEEDS)
def test_he_init_keeps_a_30_layer_relu_signal_and_xavier_loses_it(seed):
    """He et al. 2015: Xavier (Var = 1/n) shrinks a ReLU signal by 1/sqrt(2) per layer."""
    xavier = remedies.probe_deep_mlp("relu", remedies.xavier_std, depth=30, width=128, seed=seed)
    he = remedies.probe_deep_mlp("relu", remedies.he_std, depth=30, width=128, seed=seed)
    assert spread_ratio(xavier) < 1e-3  # theory 2**-14.5 = 4e-5
    assert 0.25 <= spread_ratio(he) <= 4


@pytest.mark.parametrize("seed", SEEDS)
def test_sigmoid_gradient_vanishes_over_ten_layers_while_tanh_and_relu_keep_it(seed):
    sigmoid = remedies.probe_deep_mlp("sigmoid", remedies.xavier_std, depth=10, width=64,
                                      seed=seed)
    tanh = remedies.probe_deep_mlp("tanh", remedies.xavier_std, depth=10, width=64, seed=seed)
    relu = remedies.probe_deep_mlp("relu", remedies.he_std, depth=10, width=64, seed=seed)
    assert gradient_ratio(sigmoid) < 1e-4  # sigmoid' <= 1/4: about 4**-9 = 4e-6
    assert 0.2 <= gradient_ratio(tanh) <= 5
    assert 0.2 <= gradient_ratio(relu) <= 5


def test_init_std_helpers_are_the_variance_conditions():
    assert remedies.xavier_std(64) == pytest.approx(1 / 8)
    assert remedies.he_std(50) == pytest.approx(0.2)


# ---------------------------------------------------------------- batch normalization


@pytest.fixture(scope="module")
def batchnorm_runs():
    return {
        seed: {bn: remedies.batchnorm_experiment(seed, bn) for bn in (False, True)}
        for seed in TRAINING_SEEDS
    }


@pytest.mark.parametrize("seed", TRAINING_SEEDS)
def test_batchnorm_restores_the_gradient_of_the_first_layer(batchnorm_runs, seed):
    """Ioffe & Szegedy 2015 setup: ||dL/dW1|| / ||dL/dW3|| at N(0, 0.01^2) initialisation."""
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
    """Ioffe & Szegedy Sec. 3.3: BN((aW)u) = BN(Wu), same du, and dW scaled by 1/a."""
    errors = remedies.scale_invariance_errors(seed, scale)
    assert set(errors) == {"output", "input_gradient", "weight_gradient"}
    assert max(errors.values()) < 1e-8


def test_scale_invariance_breaks_when_eps_matters():
    """The check can fail: with eps = 1e-2 and weights scaled down 100x, eps dominates var."""
    errors = remedies.scale_invariance_errors(0, 0.01, eps=1e-2)
    assert min(errors.values()) > 1e-2


# ---------------------------------------------------------------- residual connections


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("seed", SEEDS)
def test_skip_connections_carry_the_gradient_through_50_layers(seed, activation):
    """He et al. 2016: branch std 0.1/sqrt(n); ||dL/dh_0|| / ||dL/dh_50||."""
    residual = remedies.residual_gradient_flow(seed, residual=True, activation=activation)
    plain = remedies.residual_gradient_flow(seed, residual=False, activation=activation)
    assert residual.shape == plain.shape == (51,)
    assert 0.5 <= residual[0] / residual[-1] <= 3
    assert plain[0] / plain[-1] < 1e-6


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("seed", SEEDS)
def test_full_size_branches_make_residual_gradients_grow(seed, activation):
    norms = remedies.residual_gradient_flow(seed, residual=True, activation=activation,
                                            weight_scale=1.0)
    assert norms[0] / norms[-1] > 10


@pytest.mark.parametrize("seed", SEEDS)
def test_plain_stacks_with_a_matched_init_keep_the_gradient_too(seed):
    """The honest comparison: without skips, He (ReLU) and Xavier (tanh) scales also work."""
    relu = remedies.residual_gradient_flow(seed, residual=False, activation="relu",
                                           weight_scale=np.sqrt(2))
    tanh = remedies.residual_gradient_flow(seed, residual=False, activation="tanh",
                                           weight_scale=1.0)
    assert 0.2 <= relu[0] / relu[-1] <= 5
    assert 0.03 <= tanh[0] / tanh[-1] <= 0.5


# ---------------------------------------------------------------- exploding RNN and clipping


def test_rnn_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    params = {"W": 0.5 * rng.normal(size=(3, 3)), "U": rng.normal(size=(1, 3)),
              "V": rng.normal(size=(3, 1))}
    x, y = rng.normal(size=(6, 4, 1)), rng.normal(size=(4, 1))

    def forward(W, U, V):
        return remedies.rnn_loss_and_grads({"W": W, "U": U, "V": V}, x, y).loss

    def backward(dloss):
        grads = remedies.rnn_loss_and_grads(params, x, y).grads
        return {name: dloss * grad for name, grad in grads.items()}

    check_gradients(forward, backward, params, seed=1).raise_if_failed()


def test_orthogonal_matrices_are_orthogonal():
    q = remedies.orthogonal(7, np.random.default_rng(0))
    np.testing.assert_allclose(q.T @ q, np.eye(7), atol=1e-12)


@pytest.mark.parametrize(("rho", "seed"), [(1.1, s) for s in SEEDS] + [(0.9, 0), (1.0, 1)])
def test_linear_rnn_gradient_scales_by_exactly_rho_per_step(rho, seed):
    """Pascanu et al. 2013: with W = rho Q every step back multiplies ||dL/dh_t|| by rho."""
    params_rng, data_rng = np.random.default_rng(seed).spawn(2)
    params = remedies.exploding_rnn(params_rng, rho=rho)
    x, y = remedies.leaky_sum_task(data_rng)
    norms = remedies.rnn_loss_and_grads(params, x, y).state_grad_norms
    steps_back = np.arange(50, -1, -1)
    np.testing.assert_allclose(norms / norms[-1], rho**steps_back, rtol=1e-9)
    if rho == 1.1:
        assert norms[0] / norms[-1] > 100  # 1.1**50 = 117


@pytest.fixture(scope="module")
def clip_runs():
    return {
        seed: {mode: remedies.clipping_experiment(seed, mode) for mode in ("none", "value", "norm")}
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
        remedies.clipping_experiment(0, "both")
