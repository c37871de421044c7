"""Optimizers: hand-computed updates on tiny arrays, convergence, state, validation."""

import math

import numpy as np
import pytest

from backprop_kit.layers import Linear, Sequential
from backprop_kit.optim import SGD, Adam, Momentum


def tiny_pair():
    """A (param, grad) pair with entries of both signs and different magnitudes."""
    param = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]])
    grad = np.array([[0.5, -1.0, 2.0], [-0.25, 4.0, 0.1]])
    return param, grad


def test_sgd_step_subtracts_lr_times_grad_in_place():
    param, grad = tiny_pair()
    expected = param - 0.1 * grad
    same_object = param
    SGD([(param, grad)], lr=0.1).step()
    np.testing.assert_allclose(param, expected, rtol=0, atol=1e-15)
    assert param is same_object


def test_momentum_two_steps_match_hand_computation():
    param, grad = tiny_pair()
    start, g1 = param.copy(), grad.copy()
    g2 = np.array([[-1.0, 0.5, 0.5], [2.0, -3.0, 0.0]])
    lr, mu = 0.1, 0.9
    optimizer = Momentum([(param, grad)], lr=lr, momentum=mu)
    optimizer.step()
    np.testing.assert_allclose(param, start - lr * g1, atol=1e-15)
    grad[...] = g2  # what a backward does: overwrite the gradient in place
    optimizer.step()
    # velocity after step 2: mu * g1 + g2
    np.testing.assert_allclose(param, start - lr * g1 - lr * (mu * g1 + g2), atol=1e-15)


def test_momentum_with_zero_momentum_is_sgd():
    param_a, grad = tiny_pair()
    param_b = param_a.copy()
    momentum = Momentum([(param_a, grad)], lr=0.3, momentum=0.0)
    sgd = SGD([(param_b, grad)], lr=0.3)
    for _ in range(3):
        momentum.step()
        sgd.step()
    np.testing.assert_allclose(param_a, param_b, atol=1e-15)


def test_adam_first_step_is_about_lr_times_sign_of_grad():
    param, grad = tiny_pair()
    start = param.copy()
    Adam([(param, grad)], lr=0.01).step()
    # m_hat = g, v_hat = g**2 at t = 1, so the step is lr * g / (|g| + eps); 0 where g = 0
    np.testing.assert_allclose(param, start - 0.01 * np.sign(grad), rtol=0, atol=1e-8)


def test_adam_three_steps_match_the_paper_formula():
    param, grad = tiny_pair()
    lr, beta1, beta2, eps = 0.05, 0.8, 0.99, 1e-6
    grads = [grad.copy(), -0.5 * grad, grad**2 - 1]
    optimizer = Adam([(param, grad)], lr=lr, betas=(beta1, beta2), eps=eps)
    expected = param.copy()
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    for t, g in enumerate(grads, start=1):
        grad[...] = g
        optimizer.step()
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        expected = expected - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(param, expected, rtol=1e-12, atol=1e-14)
    assert optimizer.t == 3


def test_adam_with_zero_betas_keeps_a_tiny_gradient_after_a_huge_one():
    # beta1 = beta2 = 0: m = g and v = g**2, so every step is lr * g / (|g| + eps). The
    # incremental form v += (1 - beta2) * (g**2 - v) cancels to exactly 0 when v = 1e8 meets
    # g**2 = 1e-8, and the second step then divides by eps: 10**4 times too large.
    param = np.array([1.0, -2.0])
    grad = np.array([1e4, -3e3])
    start = param.copy()
    lr, eps = 0.01, 1e-8
    optimizer = Adam([(param, grad)], lr=lr, betas=(0.0, 0.0), eps=eps)
    optimizer.step()
    second = np.array([1e-4, 2e-5])
    grad[...] = second
    optimizer.step()
    first_step = lr * np.array([1e4, -3e3]) / (np.array([1e4, 3e3]) + eps)
    second_step = lr * second / (np.abs(second) + eps)  # about lr each
    np.testing.assert_allclose(param, start - first_step - second_step, rtol=1e-12)


def quadratic_descent(make_optimizer, steps):
    """Minimise f(p) = 0.5 * sum(curvature * p**2), an ill-conditioned bowl; return |p|."""
    curvature = np.array([1.0, 0.02])  # condition number 50
    param = np.array([1.0, 1.0])
    grad = np.zeros_like(param)
    optimizer = make_optimizer([(param, grad)])
    for _ in range(steps):
        grad[...] = curvature * param
        optimizer.step()
    return np.linalg.norm(param)


def test_momentum_converges_on_an_ill_conditioned_quadratic_where_sgd_crawls():
    momentum_distance = quadratic_descent(lambda p: Momentum(p, lr=0.5, momentum=0.9), 300)
    sgd_distance = quadratic_descent(lambda p: SGD(p, lr=0.5), 300)
    assert momentum_distance < 1e-4
    # plain SGD shrinks the flat direction by (1 - 0.5 * 0.02) per step: 0.99**300 ~ 0.05
    assert sgd_distance > 0.04


def test_adam_converges_on_the_quadratic():
    assert quadratic_descent(lambda p: Adam(p, lr=0.05), 1000) < 1e-2


def test_optimizers_follow_the_gradients_the_layers_overwrite():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(3, 2, rng=rng))
    optimizer = SGD(model.parameters(), lr=1.0)
    weights_before = model.params["0.W"].copy()
    x = rng.standard_normal((4, 3))
    model.forward(x)
    dy = rng.standard_normal((4, 2))
    model.backward(dy)
    optimizer.step()
    np.testing.assert_allclose(model.params["0.W"], weights_before - x.T @ dy, atol=1e-12)


def test_zero_grad_zeroes_every_gradient_in_place():
    param, grad = tiny_pair()
    same_object = grad
    Adam([(param, grad)]).zero_grad()
    assert grad is same_object
    assert not grad.any()


@pytest.mark.parametrize("make", [SGD, Momentum, Adam])
def test_float32_parameters_stay_float32(make):
    param = np.ones(4, dtype=np.float32)
    grad = np.full(4, 0.5, dtype=np.float32)
    make([(param, grad)], lr=0.1).step()
    assert param.dtype == np.float32
    assert np.all(param < 1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: SGD(p, lr=0.0), r"lr must be a number in \(0.0, inf\), got 0.0"),
        (lambda p: SGD(p, lr=math.nan), r"lr must be a number"),
        (lambda p: Momentum(p, lr=0.1, momentum=1.0), r"momentum must be a number in \[0.0, 1.0\)"),
        (lambda p: Adam(p, betas=(0.9, 1.5)), r"betas\[1\] must be a number in \[0.0, 1.0\)"),
        (lambda p: Adam(p, betas=0.9), r"betas must be a pair"),
        (lambda p: Adam(p, eps=0), r"eps must be a number in \(0.0, inf\)"),
    ],
)
def test_bad_hyperparameters_raise_value_error(make, message):
    param, grad = tiny_pair()
    with pytest.raises(ValueError, match=message):
        make([(param, grad)])


def test_bad_params_raise_clear_errors():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(3, 2, rng=rng))
    with pytest.raises(TypeError, match=r"pass model.parameters\(\), not the model itself"):
        SGD(model, lr=0.1)
    with pytest.raises(ValueError, match=r"got no parameters"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"\(param, grad\) pairs.*entry 0 is ndarray"):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match=r"gradient 0 must be an array of the parameter's shape"):
        SGD([(np.zeros(3), np.zeros(4))], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 0 must be a floating-point numpy array"):
        SGD([(np.zeros(3, dtype=int), np.zeros(3))], lr=0.1)
