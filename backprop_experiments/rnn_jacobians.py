"""Vanishing and exploding gradients through time: products of recurrent Jacobians, and a cliff.

A recurrent network h_t = f(h_{t-1} @ W + x_t) (row vectors, as everywhere in the kit) has the
step Jacobian dh_t/dh_{t-1} = diag(f'(a_t)) W^T, a_t = h_{t-1} @ W + x_t, so

    dh_t/dh_0 = diag(f'(a_t)) W^T  ...  diag(f'(a_1)) W^T

and ||dh_t/dh_0|| <= (gamma sigma_1)^t, with sigma_1 the largest singular value of W and
gamma a bound on |f'| (1 for tanh, 1/4 for the logistic sigmoid).

- Bengio, Y., Simard, P. & Frasconi, P. (1994), "Learning long-term dependencies with
  gradient descent is difficult", IEEE Trans. Neural Networks 5(2); Hochreiter, S. (1991),
  diploma thesis: the error signal over a lag q is scaled by a product of q such factors and
  decays exponentially when they are below 1.
- Pascanu, R., Mikolov, T. & Bengio, Y. (2013), "On the difficulty of training recurrent neural
  networks", ICML: sigma_1 < 1/gamma is sufficient for vanishing gradients, sigma_1 > 1/gamma
  necessary (not sufficient) for exploding ones. Their one-unit network
  x_t = w sigmoid(x_{t-1}) + b has a loss surface with a cliff, where the gradient is
  thousands of times larger than elsewhere.

Functions here compute the spectral norm of dh_t/dh_0 for t = 0..T by accumulating the
product, for a tanh RNN with random Gaussian W rescaled to a given sigma_1, and for a linear
RNN with W = rho Q (Q orthogonal), whose norm is exactly rho^t.

Pass criteria, asserted over seeds 0-4 by
``tests/experiments/test_experiments_rnn_jacobians.py`` (64 units, T = 50):

- tanh RNN with sigma_1 in {0.5, 0.9, 1.0}: ||dh_t/dh_0|| <= sigma_1**t at every step, and
  the fitted decay rate of log ||dh_t/dh_0|| over t = 10..50 is at most log(sigma_1) + 0.01;
  with sigma_1 in {1.5, 3.0} the driven tanh RNN still vanishes, ||dh_50/dh_0|| < 0.1
  (sigma_1 > 1 is necessary for explosion, not sufficient);
- linear RNN with W = rho Q, rho in {0.9, 1.0, 1.1}: ||dh_t/dh_0|| = rho**t to a relative
  1e-12, above 100 at t = 50 for rho = 1.1;
- the cliff: on the default (w, b) grid the largest gradient norm is more than 100 times the
  median one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_experiments._orthogonal import orthogonal_matrix
from backprop_kit.layers._validate import check_float_array, check_positive_int, require_shape

__all__ = [
    "ACTIVATIONS",
    "CLIFF_STEPS",
    "CLIFF_TARGET",
    "CLIFF_X0",
    "CliffSurface",
    "JacobianRun",
    "cliff_loss_and_gradient",
    "cliff_surface",
    "decay_slope",
    "jacobian_norms",
    "linear_rnn_jacobians",
    "random_recurrent_weights",
    "rnn_states",
    "tanh_rnn_jacobians",
]

ACTIVATIONS = ("tanh", "linear")
"""The recurrent nonlinearities supported: h = tanh(a) (|f'| <= 1) and h = a (f' = 1)."""
CLIFF_STEPS, CLIFF_X0, CLIFF_TARGET = 50, 0.5, 0.7
"""Pascanu et al.'s cliff: 50 steps of x_t = w sigmoid(x_{t-1}) + b from x_0 = 0.5, loss
(sigmoid(x_50) - 0.7)^2."""


def _check_activation(activation: str, where: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"{where}: activation must be one of {ACTIVATIONS}, got {activation!r}")


def _check_square(W: np.ndarray, where: str) -> int:
    check_float_array(W, "W", where)
    require_shape(W, ("n", "n"), "W", where)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"{where}: W must be square (n, n), got {W.shape}")
    return W.shape[0]


def random_recurrent_weights(n: int, sigma_1: float, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian recurrent matrix rescaled so that its largest singular value is ``sigma_1``.

    Parameters
    ----------
    n : int
        Hidden size.
    sigma_1 : float
        The largest singular value wanted, > 0.
    rng : np.random.Generator
        Draws the N(0, 1/n) entries before the rescaling.

    Returns
    -------
    np.ndarray
        (n, n) float64 with ``np.linalg.norm(W, 2) == sigma_1`` up to rounding.
    """
    n = check_positive_int(n, "n", "random_recurrent_weights")
    if not sigma_1 > 0:
        raise ValueError(f"random_recurrent_weights: sigma_1 must be positive, got {sigma_1!r}")
    W = rng.normal(0.0, 1.0 / np.sqrt(n), size=(n, n))
    return W * (sigma_1 / np.linalg.norm(W, 2))


def rnn_states(
    W: np.ndarray, h0: np.ndarray, inputs: np.ndarray, activation: str = "tanh"
) -> np.ndarray:
    """Run h_t = f(h_{t-1} @ W + x_t) for t = 1..T.

    Parameters
    ----------
    W : np.ndarray
        (n, n) recurrent weights.
    h0 : np.ndarray
        (n,) initial state.
    inputs : np.ndarray
        (T, n): x_t, the input's contribution to each step (x @ W_x + b in a full RNN).
    activation : {"tanh", "linear"}, default "tanh"

    Returns
    -------
    np.ndarray
        (T + 1, n): row t is h_t, row 0 is h0.
    """
    where = "rnn_states"
    _check_activation(activation, where)
    n = _check_square(W, where)
    require_shape(check_float_array(h0, "h0", where), (n,), "h0", where)
    require_shape(check_float_array(inputs, "inputs", where), ("T", n), "inputs", where)
    states = np.empty((len(inputs) + 1, n))
    states[0] = h0
    for t, x in enumerate(inputs, start=1):
        a = states[t - 1] @ W + x
        states[t] = np.tanh(a) if activation == "tanh" else a
    return states


def jacobian_norms(W: np.ndarray, states: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """Spectral norms of dh_t/dh_0 for t = 0..T, accumulating the product of step Jacobians.

    J_0 = I and J_t = diag(f'(a_t)) W^T J_{t-1}, with f'(a_t) = 1 - h_t**2 for tanh and 1 for
    the linear RNN.

    Parameters
    ----------
    W : np.ndarray
        (n, n) recurrent weights.
    states : np.ndarray
        (T + 1, n) from :func:`rnn_states` with the same W and activation.
    activation : {"tanh", "linear"}, default "tanh"

    Returns
    -------
    np.ndarray
        (T + 1,): entry t is ||J_t||_2, the largest singular value of dh_t/dh_0 (entry 0 is 1).
    """
    where = "jacobian_norms"
    _check_activation(activation, where)
    n = _check_square(W, where)
    require_shape(check_float_array(states, "states", where), ("T + 1", n), "states", where)
    jacobian = np.eye(n)
    norms = np.empty(len(states))
    norms[0] = 1.0
    for t in range(1, len(states)):
        step = W.T if activation == "linear" else (1.0 - states[t, :, None] ** 2) * W.T
        jacobian = step @ jacobian
        norms[t] = np.linalg.norm(jacobian, 2)
    return norms


def decay_slope(norms: np.ndarray, t_start: int = 10, t_stop: int = 50) -> float:
    """Least-squares slope of log ||dh_t/dh_0|| against t over t_start..t_stop.

    Parameters
    ----------
    norms : np.ndarray
        (T + 1,) positive, from :func:`jacobian_norms`, with T >= t_stop.
    t_start, t_stop : int
        The range of t fitted, both ends included.

    Returns
    -------
    float
        The fitted rate per step: the norm behaves like exp(slope * t) there.
    """
    check_float_array(norms, "norms", "decay_slope")
    if not 0 <= t_start < t_stop < len(norms):
        raise ValueError(
            f"decay_slope: need 0 <= t_start < t_stop < len(norms) = {len(norms)}, got "
            f"t_start={t_start}, t_stop={t_stop}"
        )
    t = np.arange(t_start, t_stop + 1)
    slope, _ = np.polyfit(t, np.log(norms[t_start : t_stop + 1]), 1)
    return float(slope)


@dataclass(frozen=True)
class JacobianRun:
    """||dh_t/dh_0|| along one trajectory of a recurrent network.

    Attributes
    ----------
    activation : str
        ``"tanh"`` or ``"linear"``.
    sigma_1 : float
        Largest singular value of W.
    seed : int
        Seed of W, h_0 and the inputs.
    states : np.ndarray
        (T + 1, n) hidden states h_0..h_T.
    norms : np.ndarray
        (T + 1,) ||dh_t/dh_0||_2.
    """

    activation: str
    sigma_1: float
    seed: int
    states: np.ndarray
    norms: np.ndarray

    @property
    def bound(self) -> np.ndarray:
        """(T + 1,) sigma_1**t, the bound on ||dh_t/dh_0|| (gamma = 1 for tanh and linear)."""
        return self.sigma_1 ** np.arange(len(self.norms))


def tanh_rnn_jacobians(
    sigma_1: float, seed: int = 0, n: int = 64, steps: int = 50, input_std: float = 1.0
) -> JacobianRun:
    """||dh_t/dh_0|| of a tanh RNN with random W of largest singular value ``sigma_1``.

    Parameters
    ----------
    sigma_1 : float
        Largest singular value of W (see :func:`random_recurrent_weights`).
    seed : int, default 0
        Seeds W, then h_0 = tanh(N(0, 1)) and the inputs x_t ~ N(0, input_std^2).
    n : int, default 64
        Hidden size.
    steps : int, default 50
        T.
    input_std : float, default 1.0
        Spread of the inputs that drive the network.

    Returns
    -------
    JacobianRun
    """
    steps = check_positive_int(steps, "steps", "tanh_rnn_jacobians")
    rng = np.random.default_rng(seed)
    W = random_recurrent_weights(n, sigma_1, rng)
    h0 = np.tanh(rng.normal(size=n))
    inputs = rng.normal(0.0, input_std, size=(steps, n))
    states = rnn_states(W, h0, inputs, "tanh")
    return JacobianRun("tanh", float(sigma_1), seed, states, jacobian_norms(W, states, "tanh"))


def linear_rnn_jacobians(rho: float, seed: int = 0, n: int = 64, steps: int = 50) -> JacobianRun:
    """||dh_t/dh_0|| of the linear RNN h_t = h_{t-1} @ W + x_t with W = rho Q, Q orthogonal.

    Every singular value of W is rho, so dh_t/dh_0 = (W^T)^t has norm exactly rho^t: it
    explodes for rho > 1 and vanishes for rho < 1, whatever the inputs.

    Parameters
    ----------
    rho : float
        Scale of W, > 0.
    seed : int, default 0
        Seeds Q, h_0 ~ N(0, 1) and the inputs x_t ~ N(0, 1).
    n : int, default 64
        Hidden size.
    steps : int, default 50
        T.

    Returns
    -------
    JacobianRun
        With ``sigma_1 = rho``.
    """
    if not rho > 0:
        raise ValueError(f"linear_rnn_jacobians: rho must be positive, got {rho!r}")
    steps = check_positive_int(steps, "steps", "linear_rnn_jacobians")
    rng = np.random.default_rng(seed)
    W = rho * orthogonal_matrix(n, rng)
    states = rnn_states(W, rng.normal(size=n), rng.normal(size=(steps, n)), "linear")
    return JacobianRun("linear", float(rho), seed, states, jacobian_norms(W, states, "linear"))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid written with tanh, which never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def cliff_loss_and_gradient(
    w: np.ndarray | float,
    b: np.ndarray | float,
    steps: int = CLIFF_STEPS,
    x0: float = CLIFF_X0,
    target: float = CLIFF_TARGET,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loss and gradient of Pascanu et al.'s one-unit RNN, by backprop through time.

    Forward: x_t = w s_{t-1} + b with s_t = sigmoid(x_t), t = 1..steps, from x_0;
    E = (s_steps - target)^2. Backward: delta_steps = dE/dx_steps = 2 (s - target) s (1 - s),
    and for t = steps..1: dE/dw += delta_t s_{t-1}, dE/db += delta_t,
    delta_{t-1} = delta_t w s_{t-1} (1 - s_{t-1}).

    Parameters
    ----------
    w, b : np.ndarray or float
        The recurrent weight and the bias; arrays of any shapes that broadcast together (a
        whole grid at once).
    steps : int, default 50
    x0, target : float, default 0.5 and 0.7

    Returns
    -------
    loss, dloss_dw, dloss_db : np.ndarray
        Each of the broadcast shape of w and b.
    """
    steps = check_positive_int(steps, "steps", "cliff_loss_and_gradient")
    w, b = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    x = np.full(w.shape, float(x0))
    previous_s = []  # s_0 .. s_{steps-1}
    for _ in range(steps):
        s = _sigmoid(x)
        previous_s.append(s)
        x = w * s + b
    s = _sigmoid(x)
    loss = (s - target) ** 2
    delta = 2.0 * (s - target) * s * (1.0 - s)
    grad_w, grad_b = np.zeros(w.shape), np.zeros(w.shape)
    for s_prev in reversed(previous_s):
        grad_w += delta * s_prev
        grad_b += delta
        delta = delta * w * s_prev * (1.0 - s_prev)
    return loss, grad_w, grad_b


@dataclass(frozen=True)
class CliffSurface:
    """Loss and gradient of the one-unit RNN on a grid of (w, b).

    Attributes
    ----------
    w : np.ndarray
        (n_w,) grid of recurrent weights.
    b : np.ndarray
        (n_b,) grid of biases.
    loss, grad_w, grad_b : np.ndarray
        (n_b, n_w): row i, column j is at (w[j], b[i]) (the layout ``imshow`` expects).
    """

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_w: np.ndarray
    grad_b: np.ndarray

    @property
    def grad_norm(self) -> np.ndarray:
        """(n_b, n_w) Euclidean norm of (dE/dw, dE/db)."""
        return np.hypot(self.grad_w, self.grad_b)

    @property
    def max_over_median(self) -> float:
        """Largest gradient norm on the grid over the median one."""
        norms = self.grad_norm
        return float(norms.max() / np.median(norms))


def cliff_surface(
    w_range: tuple[float, float] = (-2.0, 12.0),
    b_range: tuple[float, float] = (-6.0, 2.0),
    n_w: int = 281,
    n_b: int = 161,
) -> CliffSurface:
    """Evaluate :func:`cliff_loss_and_gradient` on an evenly spaced (w, b) grid.

    Parameters
    ----------
    w_range, b_range : tuple of float
        Ends of the grid (both included).
    n_w, n_b : int, default 281 and 161
        Grid points along w and b (spacing 0.05 with the default ranges).

    Returns
    -------
    CliffSurface
    """
    w = np.linspace(*w_range, check_positive_int(n_w, "n_w", "cliff_surface"))
    b = np.linspace(*b_range, check_positive_int(n_b, "n_b", "cliff_surface"))
    loss, grad_w, grad_b = cliff_loss_and_gradient(w[None, :], b[:, None])
    return CliffSurface(w=w, b=b, loss=loss, grad_w=grad_w, grad_b=grad_b)
