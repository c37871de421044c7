"""An exploding linear RNN, and gradient clipping by global norm and by value.

Pascanu, R., Mikolov, T. & Bengio, Y. (2013), "On the difficulty of training recurrent neural
networks", ICML. Sec. 2.1: the gradient sent back t steps through a recurrent net is
multiplied by t Jacobians; a largest singular value of the recurrent matrix above 1 is
necessary for it to explode. Sec. 3.2 (Algorithm 1): rescale the gradient g to c g / ||g||
when its norm ||g|| over all parameters exceeds a threshold c, which bounds the step and keeps
its direction. Notebook 10 (section 6) shows both on a linear RNN with recurrent matrix
W = rho * Q (Q orthogonal): every singular value is rho, so each step back multiplies the
gradient by exactly rho (:func:`exploding_rnn`, :func:`rnn_loss_and_grads`), and plain
gradient descent on :func:`leaky_sum_task` diverges where clipping trains
(:func:`clipping_experiment`). Clipping entry by entry, the cruder alternative, also bounds
the step but turns it. (:mod:`~backprop_experiments.rnn_jacobians` measures the same Jacobian
products for notebook 09.)

Pass criteria, asserted by ``tests/experiments/test_experiments_clipping.py`` (and for seed 0
by the notebook), with T = 50 steps and 16 units:

- rho = 1.1 (seeds 0-4), 0.9 and 1.0: ||dL/dh_t|| / ||dL/dh_T|| = rho**(T - t) to a relative
  1e-9, above 100 at t = 0 for rho = 1.1 (1.1**50 = 117);
- seeds 0-4, 200 steps of full-batch gradient descent with learning rate 0.05 and c = 1:
  without clipping the raw gradient norm starts above 1e3 and the loss diverges within 5
  steps; with either clipping no step's norm exceeds c, and the loss ends below 0.05 and below
  1e-3 of its start; clipping by norm keeps the cosine with the raw gradient at 1 (to 1e-12),
  changes nothing below c and gives steps of norm exactly c above; clipping by value (limit
  c / sqrt(P) for the P parameters) has a first cosine below 0.95.

Everything runs in float64 in a fraction of a second per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from backprop_experiments._orthogonal import orthogonal_matrix
from backprop_kit.clip import clip_grad_norm, clip_grad_value

__all__ = [
    "ClipRun",
    "RNNGradients",
    "clipping_experiment",
    "exploding_rnn",
    "leaky_sum_task",
    "rnn_loss_and_grads",
]


def exploding_rnn(
    rng: np.random.Generator, *, rho: float = 1.1, hidden: int = 16
) -> dict[str, np.ndarray]:
    """Parameters of a linear RNN whose recurrent matrix is W = rho * Q, Q orthogonal.

    Every singular value of W is rho, so a gradient sent back one step is multiplied by
    exactly rho in norm: rho > 1 explodes as rho**t, rho < 1 vanishes.

    Parameters
    ----------
    rng : np.random.Generator
        Draws Q and the input and output weights.
    rho : float, default 1.1
        The scale of W.
    hidden : int, default 16
        n, the size of the state.

    Returns
    -------
    dict of str to np.ndarray
        ``"W"`` (n, n) = rho * Q, ``"U"`` (1, n) input weights, ``"V"`` (n, 1) output weights,
        both N(0, 1/n).
    """
    return {
        "W": rho * orthogonal_matrix(hidden, rng),
        "U": rng.normal(0.0, np.sqrt(1.0 / hidden), size=(1, hidden)),
        "V": rng.normal(0.0, np.sqrt(1.0 / hidden), size=(hidden, 1)),
    }


def leaky_sum_task(
    rng: np.random.Generator, *, n_sequences: int = 64, length: int = 50, decay: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    """Random sequences and, as target, their exponentially weighted sum.

    y = sum_t decay**(T - t) x_t: the last inputs count most. A linear RNN solves it exactly
    (a state that decays by ``decay`` per step), so the loss can go to 0.

    Parameters
    ----------
    rng : np.random.Generator
        Draws the inputs.
    n_sequences, length : int
        N and T.
    decay : float
        The weight of the input one step further back.

    Returns
    -------
    x : np.ndarray
        (T, N, 1) standard normal inputs, time-major.
    y : np.ndarray
        (N, 1) targets.
    """
    x = rng.normal(size=(length, n_sequences, 1))
    weights = decay ** np.arange(length - 1, -1, -1)
    return x, np.tensordot(weights, x, axes=(0, 0))


class RNNGradients(NamedTuple):
    """What :func:`rnn_loss_and_grads` returns.

    Attributes
    ----------
    loss : float
        L = mean over the N sequences of (h_T V - y)**2 / 2.
    grads : dict of str to np.ndarray
        dL/dW (n, n), dL/dU (1, n), dL/dV (n, 1).
    state_grad_norms : np.ndarray
        (T + 1,) ||dL/dh_t|| for t = 0 .. T (h_0 = 0 is the initial state).
    """

    loss: float
    grads: dict[str, np.ndarray]
    state_grad_norms: np.ndarray


def rnn_loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> RNNGradients:
    """Forward and backpropagation through time for the linear RNN of :func:`exploding_rnn`.

    forward:  h_0 = 0, h_t = h_{t-1} W + x_t U (t = 1..T), prediction h_T V,
              L = mean_n (h_T V - y)**2 / 2
    backward: dh_T = (h_T V - y) V^T / N, then dh_{t-1} = dh_t W^T; the weights are shared by
              all steps, so dW = sum_t h_{t-1}^T dh_t and dU = sum_t x_t^T dh_t (one matrix
              product each over all T*N rows); dV = h_T^T (h_T V - y) / N.

    Parameters
    ----------
    params : dict of str to np.ndarray
        ``"W"`` (n, n), ``"U"`` (1, n), ``"V"`` (n, 1).
    x : np.ndarray
        (T, N, 1) inputs, time-major.
    y : np.ndarray
        (N, 1) targets.

    Returns
    -------
    RNNGradients
        The loss, the three gradients and ||dL/dh_t|| per step.
    """
    W, U, V = params["W"], params["U"], params["V"]
    length, n_sequences, _ = x.shape
    hidden = W.shape[0]
    states = np.zeros((length + 1, n_sequences, hidden))
    for t in range(1, length + 1):
        states[t] = states[t - 1] @ W + x[t - 1] @ U
    error = states[length] @ V - y
    loss = float(0.5 * np.mean(error**2))
    d_prediction = error / n_sequences
    d_states = np.zeros_like(states)
    d_states[length] = d_prediction @ V.T
    for t in range(length, 0, -1):
        d_states[t - 1] = d_states[t] @ W.T
    d_rows = d_states[1:].reshape(length * n_sequences, hidden)
    grads = {
        "W": states[:-1].reshape(length * n_sequences, hidden).T @ d_rows,
        "U": x.reshape(length * n_sequences, 1).T @ d_rows,
        "V": states[length].T @ d_prediction,
    }
    norms = np.linalg.norm(d_states.reshape(length + 1, -1), axis=1)
    return RNNGradients(loss, grads, norms)


Clipping = Literal["none", "value", "norm"]


@dataclass
class ClipRun:
    """One gradient-descent run of :func:`clipping_experiment`, one entry per step taken.

    Attributes
    ----------
    loss : np.ndarray
        The loss before each step.
    grad_norm : np.ndarray
        Global norm of the raw gradient at each step.
    step_norm : np.ndarray
        Global norm of the gradient actually applied (after clipping).
    cosine : np.ndarray
        Cosine between the applied and the raw gradient: 1 means the same direction.
    diverged_at : int or None
        The step at which the loss stopped being finite or passed ``divergence_loss`` (the run
        stops there), None if it never did.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    step_norm: np.ndarray
    cosine: np.ndarray
    diverged_at: int | None


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([array.ravel() for array in arrays])


def clipping_experiment(
    seed: int,
    clip: Clipping,
    *,
    threshold: float = 1.0,
    lr: float = 0.05,
    steps: int = 200,
    rho: float = 1.1,
    divergence_loss: float = 1e12,
) -> ClipRun:
    """Full-batch gradient descent on :func:`leaky_sum_task` with the exploding linear RNN.

    Parameters
    ----------
    seed : int
        Seeds the RNN and the data; the three clipping modes share them for a given seed.
    clip : {"none", "value", "norm"}
        No clipping; :func:`~backprop_kit.clip.clip_grad_value` with the per-entry limit
        threshold / sqrt(P) (P parameters, so that the clipped gradient's norm is at most
        ``threshold`` too, and the two clippings differ only in direction);
        :func:`~backprop_kit.clip.clip_grad_norm` with ``threshold``.
    threshold : float, default 1.0
        The bound on the norm of the applied gradient.
    lr : float, default 0.05
        Learning rate.
    steps : int, default 200
        Maximum number of steps.
    rho : float, default 1.1
        Scale of the recurrent matrix at initialisation.
    divergence_loss : float, default 1e12
        A loss above this (or not finite) counts as diverged and ends the run.

    Returns
    -------
    ClipRun
        Per-step loss, gradient norms before and after clipping and their cosine.
    """
    if clip not in ("none", "value", "norm"):
        raise ValueError(f"clip must be 'none', 'value' or 'norm', got {clip!r}")
    param_rng, data_rng = np.random.default_rng(seed).spawn(2)
    params = exploding_rnn(param_rng, rho=rho)
    x, y = leaky_sum_task(data_rng)
    n_params = sum(array.size for array in params.values())
    record: dict[str, list[float]] = {"loss": [], "grad": [], "step": [], "cosine": []}
    diverged_at = None
    for step in range(steps):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run overflows
            loss, grads, _ = rnn_loss_and_grads(params, x, y)
        if not np.isfinite(loss) or loss > divergence_loss:
            diverged_at = step
            break
        arrays = list(grads.values())
        raw = _flat(arrays)
        if clip == "norm":
            clip_grad_norm(arrays, threshold)
        elif clip == "value":
            clip_grad_value(arrays, threshold / np.sqrt(n_params))
        applied = _flat(arrays)
        record["loss"].append(loss)
        record["grad"].append(float(np.linalg.norm(raw)))
        record["step"].append(float(np.linalg.norm(applied)))
        record["cosine"].append(float(raw @ applied / (np.linalg.norm(raw)
                                                       * np.linalg.norm(applied))))
        for name, grad in grads.items():
            params[name] -= lr * grad
    return ClipRun(
        loss=np.array(record["loss"]),
        grad_norm=np.array(record["grad"]),
        step_norm=np.array(record["step"]),
        cosine=np.array(record["cosine"]),
        diverged_at=diverged_at,
    )
