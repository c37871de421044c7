"""Gradients through time (notebook 09): the sigma_1^t bound, the decay rate, explosion in a
linear RNN and Pascanu et al.'s cliff, over several seeds; Jacobians and the cliff gradient
checked by finite differences.

The criteria are the ones :mod:`backprop_experiments.rnn_jacobians`'s docstring states."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_experiments._orthogonal import orthogonal_matrix
from backprop_experiments.rnn_jacobians import (
    cliff_loss_and_gradient,
    cliff_surface,
    decay_slope,
    jacobian_norms,
    linear_rnn_jacobians,
    random_recurrent_weights,
    rnn_states,
    tanh_rnn_jacobians,
)
from backprop_kit.gradcheck import check_scalar_gradient

SEEDS = range(5)


@pytest.mark.parametrize("sigma_1", [0.5, 0.9, 1.0])
def test_tanh_rnn_jacobian_norm_never_exceeds_sigma_1_to_the_t(sigma_1):
    for seed in SEEDS:
        run = tanh_rnn_jacobians(sigma_1, seed)
        assert run.norms.shape == run.bound.shape == (51,)
        assert run.norms[0] == 1.0
        assert np.all(run.norms <= run.bound + 1e-9), (seed, run.norms / run.bound)


@pytest.mark.parametrize("sigma_1", [0.5, 0.9, 1.0])
def test_log_norm_decays_at_least_as_fast_as_log_sigma_1(sigma_1):
    slopes = [decay_slope(tanh_rnn_jacobians(sigma_1, seed).norms) for seed in SEEDS]
    assert all(s <= np.log(sigma_1) + 0.01 for s in slopes), slopes


@pytest.mark.parametrize("sigma_1", [1.5, 3.0])
def test_driven_tanh_rnn_still_vanishes_with_sigma_1_above_1(sigma_1):
    # Pascanu et al.: sigma_1 > 1 is necessary for explosion, not sufficient
    finals = [tanh_rnn_jacobians(sigma_1, seed).norms[-1] for seed in SEEDS]
    assert all(f < 0.1 for f in finals), finals


@pytest.mark.parametrize("rho", [0.9, 1.0, 1.1])
def test_linear_rnn_with_w_rho_q_has_norm_exactly_rho_to_the_t(rho):
    for seed in range(3):
        run = linear_rnn_jacobians(rho, seed)
        np.testing.assert_allclose(run.norms, rho ** np.arange(51), rtol=1e-12)


def test_linear_rnn_with_rho_1_1_explodes_past_100_by_step_50():
    assert all(linear_rnn_jacobians(1.1, seed).norms[50] > 100 for seed in SEEDS)


def test_cliff_gradient_norm_peaks_over_100_times_its_median():
    surface = cliff_surface()
    assert surface.loss.shape == surface.grad_norm.shape == (161, 281)
    assert surface.w[[0, -1]].tolist() == [-2.0, 12.0] and surface.b[[0, -1]].tolist() == [-6, 2]
    assert surface.max_over_median > 100
    assert np.all((surface.loss >= 0) & (surface.loss <= 0.49))  # (s - 0.7)^2, s in [0, 1]


def test_random_recurrent_weights_have_the_requested_largest_singular_value():
    W = random_recurrent_weights(7, 0.8, np.random.default_rng(2))
    assert W.shape == (7, 7)
    assert abs(np.linalg.norm(W, 2) - 0.8) < 1e-12


def test_random_w_has_spectral_radius_near_half_its_largest_singular_value():
    # why sigma_1 = 1.5 or 3 can still vanish: powers of W shrink like its spectral radius
    for seed in SEEDS:
        W = random_recurrent_weights(64, 1.0, np.random.default_rng(seed))
        assert 0.4 < np.abs(np.linalg.eigvals(W)).max() < 0.65


def test_orthogonal_matrix_is_orthogonal():
    Q = orthogonal_matrix(6, np.random.default_rng(5))
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-12)
    with pytest.raises(ValueError, match="orthogonal_matrix: n must be a positive integer, got 0"):
        orthogonal_matrix(0, np.random.default_rng(5))


def _finite_difference_jacobian(W, h0, inputs, activation, eps=1e-6):
    """dh_T/dh_0 column by column: (h_T(h0 + eps e_j) - h_T(h0 - eps e_j)) / 2 eps."""
    columns = []
    for j in range(len(h0)):
        step = np.zeros_like(h0)
        step[j] = eps
        plus = rnn_states(W, h0 + step, inputs, activation)[-1]
        minus = rnn_states(W, h0 - step, inputs, activation)[-1]
        columns.append((plus - minus) / (2 * eps))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("activation", ["tanh", "linear"])
def test_jacobian_norms_match_finite_difference_jacobians(activation):
    rng = np.random.default_rng(7)
    W = rng.normal(size=(5, 5)) * 0.6
    h0, inputs = rng.normal(size=5), rng.normal(size=(6, 5))
    norms = jacobian_norms(W, rnn_states(W, h0, inputs, activation), activation)
    for t in range(1, 7):
        numerical = _finite_difference_jacobian(W, h0, inputs[:t], activation)
        np.testing.assert_allclose(norms[t], np.linalg.norm(numerical, 2), rtol=1e-7)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 8), steps=st.integers(1, 12), sigma_1=st.floats(0.1, 2.0),
       seed=st.integers(0, 2**16))
def test_bound_holds_for_any_size_length_and_scale(n, steps, sigma_1, seed):
    rng = np.random.default_rng(seed)
    W = random_recurrent_weights(n, sigma_1, rng)
    states = rnn_states(W, rng.normal(size=n), rng.normal(size=(steps, n)) * 2, "tanh")
    norms = jacobian_norms(W, states)
    assert norms.shape == (steps + 1,)
    assert np.all(norms <= sigma_1 ** np.arange(steps + 1) * (1 + 1e-12) + 1e-15)


def test_decay_slope_recovers_the_rate_of_an_exact_exponential():
    norms = np.exp(-0.3 * np.arange(60))
    assert abs(decay_slope(norms) + 0.3) < 1e-12
    with pytest.raises(ValueError, match="t_stop < len"):
        decay_slope(norms[:40])


@pytest.mark.parametrize("w, b", [(3.0, -1.0), (8.0, -4.0), (4.9, -2.55), (-1.5, 1.0)])
def test_cliff_gradient_matches_finite_differences(w, b):
    point = np.array([w, b])

    def loss(p):
        return float(cliff_loss_and_gradient(p[0], p[1])[0])

    def grad(p):
        _, dw, db = cliff_loss_and_gradient(p[0], p[1])
        return np.array([float(dw), float(db)])

    check_scalar_gradient(loss, grad, point, h=1e-7, tolerance=1e-5).raise_if_failed()


def test_cliff_loss_broadcasts_and_follows_the_recurrence_by_hand():
    w, b = np.array([[1.0, 2.0, 3.0]]), np.array([[0.5], [-1.0]])
    loss, dw, db = cliff_loss_and_gradient(w, b, steps=2)
    assert loss.shape == dw.shape == db.shape == (2, 3)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    x2 = w * sigmoid(w * sigmoid(0.5) + b) + b
    np.testing.assert_allclose(loss, (sigmoid(x2) - 0.7) ** 2, rtol=1e-13)


def test_bad_shapes_and_activations_are_rejected():
    W = np.eye(3)
    with pytest.raises(ValueError, match=r"W must be square \(n, n\), got \(3, 2\)"):
        rnn_states(np.ones((3, 2)), np.zeros(3), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"inputs must have shape \(T, 3\), got \(4, 2\)"):
        rnn_states(W, np.zeros(3), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="activation must be one of"):
        jacobian_norms(W, np.zeros((4, 3)), "relu")
