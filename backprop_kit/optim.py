"""Optimizers: update parameters in place from their gradients.

Every optimizer takes the ``(param, grad)`` pairs of a model (``model.parameters()``), keeps
them, and on each :meth:`~Optimizer.step` reads the gradients (which the layers overwrite in
place on every backward) and updates the parameters in place, so the layers see the new values
without any copying. All state (velocities, moments, a scratch buffer) is allocated once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["SGD", "Adam", "Momentum", "Optimizer", "ParamPairs"]

ParamPairs = Iterable[tuple[np.ndarray, np.ndarray]]
"""What optimizers take: (param, grad) pairs of the same shape, e.g. ``model.parameters()``."""


def _check_hyper(value: object, name: str, low: float, high: float, *, closed_low: bool) -> float:
    """Return ``value`` as a float if it lies in [low, high) (or (low, high)), else raise."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low <= value if closed_low else low < value) and value < high
    if not ok:
        bracket = "[" if closed_low else "("
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}), got {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds the (param, grad) pairs and a scratch buffer for each.

    Parameters
    ----------
    params : iterable of (np.ndarray, np.ndarray)
        Pairs of a floating-point parameter array and its gradient array (same shape), e.g.
        ``model.parameters()``.
    lr : float
        Learning rate, > 0.
    """

    def __init__(self, params: ParamPairs, lr: float) -> None:
        if hasattr(params, "parameters"):
            raise TypeError(
                f"{type(self).__name__}: pass model.parameters(), not the model itself"
            )
        self.pairs = list(params)
        if not self.pairs:
            raise ValueError(f"{type(self).__name__}: got no parameters to optimize")
        for index, pair in enumerate(self.pairs):
            self._check_pair(index, pair)
        self.lr = _check_hyper(lr, "lr", 0.0, math.inf, closed_low=False)
        self._scratch = [np.empty_like(param) for param, _ in self.pairs]

    def _check_pair(self, index: int, pair: object) -> None:
        name = type(self).__name__
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(
                f"{name}: params must be (param, grad) pairs such as model.parameters(); "
                f"entry {index} is {type(pair).__name__}"
            )
        param, grad = pair
        if not (isinstance(param, np.ndarray) and np.issubdtype(param.dtype, np.floating)):
            raise TypeError(f"{name}: parameter {index} must be a floating-point numpy array")
        if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
            raise ValueError(
                f"{name}: gradient {index} must be an array of the parameter's shape "
                f"{param.shape}, got {getattr(grad, 'shape', type(grad).__name__)}"
            )

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place."""
        for _, grad in self.pairs:
            grad.fill(0)

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        for index, (param, grad) in enumerate(self.pairs):
            self._update(index, param, grad, self._scratch[index])

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, scratch: np.ndarray):
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: ``param -= lr * grad``.

    Parameters
    ----------
    params : iterable of (np.ndarray, np.ndarray)
        ``model.parameters()``.
    lr : float
        Learning rate, > 0.
    """

    def _update(self, index, param, grad, scratch):
        np.multiply(grad, self.lr, out=scratch)
        param -= scratch


class Momentum(Optimizer):
    """Gradient descent with (heavy-ball) momentum, in PyTorch's form.

    ``velocity = momentum * velocity + grad``; ``param -= lr * velocity``, velocity starting
    at 0. With a constant lr this is the same trajectory as the textbook
    ``v = momentum * v - lr * grad; param += v`` (Polyak 1964; Sutskever et al. 2013).

    Parameters
    ----------
    params : iterable of (np.ndarray, np.ndarray)
        ``model.parameters()``.
    lr : float
        Learning rate, > 0.
    momentum : float, default 0.9
        Fraction of the velocity kept each step, in [0, 1).

    Attributes
    ----------
    velocities : list of np.ndarray
        One per parameter, same shape.
    """

    def __init__(self, params: ParamPairs, lr: float, momentum: float = 0.9) -> None:
        super().__init__(params, lr)
        self.momentum = _check_hyper(momentum, "momentum", 0.0, 1.0, closed_low=True)
        self.velocities = [np.zeros_like(param) for param, _ in self.pairs]

    def _update(self, index, param, grad, scratch):
        velocity = self.velocities[index]
        velocity *= self.momentum
        velocity += grad
        np.multiply(velocity, self.lr, out=scratch)
        param -= scratch


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), with bias correction.

    At step t = 1, 2, ...:
    ``m = beta1 * m + (1 - beta1) * grad``, ``v = beta2 * v + (1 - beta2) * grad**2``,
    ``m_hat = m / (1 - beta1**t)``, ``v_hat = v / (1 - beta2**t)``,
    ``param -= lr * m_hat / (sqrt(v_hat) + eps)``.
    The correction undoes the pull of the zero initial moments towards 0; without it the first
    steps would be far too small. At t = 1, m_hat = grad and v_hat = grad**2, so the first step
    is about lr * sign(grad).

    Parameters
    ----------
    params : iterable of (np.ndarray, np.ndarray)
        ``model.parameters()``.
    lr : float, default 1e-3
        Learning rate, > 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.

    Attributes
    ----------
    t : int
        Number of steps taken.
    first_moments, second_moments : list of np.ndarray
        m and v, one per parameter, same shape.
    """

    def __init__(
        self,
        params: ParamPairs,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        if not (isinstance(betas, tuple | list) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = _check_hyper(betas[0], "betas[0]", 0.0, 1.0, closed_low=True)
        self.beta2 = _check_hyper(betas[1], "betas[1]", 0.0, 1.0, closed_low=True)
        self.eps = _check_hyper(eps, "eps", 0.0, math.inf, closed_low=False)
        self.t = 0
        self.first_moments = [np.zeros_like(param) for param, _ in self.pairs]
        self.second_moments = [np.zeros_like(param) for param, _ in self.pairs]

    def step(self) -> None:
        """Advance the step count t, then update every parameter in place."""
        self.t += 1
        super().step()

    def _update(self, index, param, grad, scratch):
        m, v = self.first_moments[index], self.second_moments[index]
        # m = beta1 * m + (1 - beta1) * grad, in place. Not m += (1 - beta1) * (grad - m):
        # with beta1 = 0 that form computes m + (grad - m), which loses a small grad next to
        # a large m (and v = 0 exactly for beta2 = 0, then the step divides by eps).
        m *= self.beta1
        np.multiply(grad, 1 - self.beta1, out=scratch)
        m += scratch
        # v = beta2 * v + (1 - beta2) * grad**2
        v *= self.beta2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - self.beta2
        v += scratch
        # lr * m_hat / (sqrt(v_hat) + eps) = (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps)
        c1, c2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        np.sqrt(v, out=scratch)
        scratch *= 1 / math.sqrt(c2)
        scratch += self.eps
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr / c1
        param -= scratch
