"""A vanilla RNN against an LSTM on the adding problem, with the same small budget.

The adding problem is experiment 4 of Hochreiter & Schmidhuber (1997), "Long short-term memory", in
the form of Le, Jaitly & Hinton (2015), "A simple way to initialize recurrent networks of rectified
linear units" (:func:`backprop_kit.sequences.adding_problem`). Notebook 08 runs
:func:`train_on_adding_problem` for seed 2 and ``tests/experiments/test_experiments_adding.py`` for
seeds 0, 1 and 3; the claims checked for every seed, at T = 40 after 300 Adam steps: the LSTM's test
MSE ends below 0.05, far under the baseline :data:`BASELINE_MSE`, the RNN's stays above 0.14, and
the trained LSTM's gradient ||dL/dh_0|| is still above 1e-2 of ||dL/dh_{T-1}||.

Everything runs in float32; with one BLAS thread
(``threadpoolctl.threadpool_limits(limits=1, user_api="blas")``, the matrices are small) one
run takes a second or two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.clip import clip_grad_norm
from backprop_kit.layers import Linear, MSELoss
from backprop_kit.layers._validate import check_positive_int
from backprop_kit.layers.recurrent import RecurrentBase
from backprop_kit.optim import Adam
from backprop_kit.sequences import adding_problem

__all__ = ["BASELINE_MSE", "AddingRun", "train_on_adding_problem"]

BASELINE_MSE = 2 / 12
"""Var(u1 + u2) for u1, u2 ~ U[0, 1]: the test MSE of always predicting the mean sum, 1."""
N_TEST = 1000
"""Test sequences, drawn with seed ``seed + TEST_SEED_OFFSET``."""
TEST_SEED_OFFSET = 10_000
N_GRADIENT = 256
"""How many of the test sequences the gradient norms are measured on."""


@dataclass(frozen=True)
class AddingRun:
    """One recurrent network trained on the adding problem.

    Attributes
    ----------
    layer : str
        The recurrent layer's class name, ``"RNN"`` or ``"LSTM"``.
    seed : int
        Seed of the weights and of the training batches.
    losses : np.ndarray
        (steps,) float64 training MSE of each step's batch, before that step's update.
    test_mse : float
        MSE on :data:`N_TEST` fresh sequences after training.
    grad_norms_init, grad_norms_trained : np.ndarray
        (T,) float64 ||dL/dh_t|| for t = 0..T-1 (norm over the batch and the hidden units) of
        the MSE at the last step on :data:`N_GRADIENT` test sequences, at initialisation and
        after training.
    """

    layer: str
    seed: int
    losses: np.ndarray
    test_mse: float
    grad_norms_init: np.ndarray
    grad_norms_trained: np.ndarray

    @property
    def reach_init(self) -> float:
        """||dL/dh_0|| / ||dL/dh_{T-1}|| at initialisation."""
        return float(self.grad_norms_init[0] / self.grad_norms_init[-1])

    @property
    def reach_trained(self) -> float:
        """||dL/dh_0|| / ||dL/dh_{T-1}|| after training: how much gradient reaches step 0."""
        return float(self.grad_norms_trained[0] / self.grad_norms_trained[-1])


def train_on_adding_problem(
    layer_class: type[RecurrentBase],
    seed: int,
    *,
    T: int = 40,
    hidden: int = 16,
    steps: int = 300,
    batch: int = 64,
    lr: float = 0.02,
    max_norm: float = 1.0,
) -> AddingRun:
    """Train ``layer_class`` with a Linear readout of its last state on the adding problem.

    Every step draws a fresh batch, back-propagates the MSE of the readout, clips all the
    gradients together to global norm ``max_norm`` and takes an Adam step.

    Parameters
    ----------
    layer_class : type
        :class:`~backprop_kit.layers.RNN` or :class:`~backprop_kit.layers.LSTM` (a subclass of
        ``RecurrentBase``), built as ``layer_class(2, hidden, rng=..., dtype=np.float32)``.
    seed : int
        Seeds the weights and the training batches (one generator); the test set is drawn
        with ``seed + 10_000``.
    T : int, default 40
        Sequence length.
    hidden : int, default 16
        Hidden units H.
    steps : int, default 300
        Adam steps.
    batch : int, default 64
        Sequences per step.
    lr : float, default 0.02
        Adam's learning rate.
    max_norm : float, default 1.0
        Threshold of :func:`~backprop_kit.clip.clip_grad_norm`.

    Returns
    -------
    AddingRun
    """
    where = "train_on_adding_problem"
    if not (isinstance(layer_class, type) and issubclass(layer_class, RecurrentBase)):
        raise TypeError(f"{where}: layer_class must be a recurrent layer class such as RNN or "
                        f"LSTM, got {layer_class!r}")
    steps = check_positive_int(steps, "steps", where)
    gen = np.random.default_rng(seed)
    recurrent = layer_class(2, hidden, rng=gen, dtype=np.float32)
    head = Linear(hidden, 1, rng=gen, init="xavier", dtype=np.float32)
    mse = MSELoss()
    pairs = [*recurrent.parameters(), *head.parameters()]
    optimizer = Adam(pairs, lr=lr)
    x_test, y_test = adding_problem(N_TEST, T, np.random.default_rng(seed + TEST_SEED_OFFSET),
                                    dtype=np.float32)

    def loss_and_backward(x: np.ndarray, y: np.ndarray) -> float:
        """MSE of the readout of h_{T-1} for x (n, T, 2), y (n,); leaves the gradients set."""
        h = recurrent.forward(x)
        loss = mse.forward(head.forward(h[:, -1]), y[:, None])
        upstream = np.zeros(h.shape, dtype=np.float32)
        upstream[:, -1] = head.backward(mse.backward())     # the loss reads h_{T-1} only
        recurrent.backward(upstream)
        return loss

    def gradient_norms() -> np.ndarray:
        """(T,) ||dL/dh_t|| on the first N_GRADIENT test sequences."""
        loss_and_backward(x_test[:N_GRADIENT], y_test[:N_GRADIENT])
        return np.linalg.norm(np.asarray(recurrent.dh_total, dtype=np.float64), axis=(0, 2))

    grad_norms_init = gradient_norms()
    losses = np.empty(steps)
    for step in range(steps):
        losses[step] = loss_and_backward(*adding_problem(batch, T, gen, dtype=np.float32))
        clip_grad_norm([grad for _, grad in pairs], max_norm)
        optimizer.step()
    grad_norms_trained = gradient_norms()
    prediction = head.forward(recurrent.forward(x_test)[:, -1])
    return AddingRun(layer=layer_class.__name__, seed=seed, losses=losses,
                     test_mse=float(np.mean((prediction[:, 0] - y_test) ** 2)),
                     grad_norms_init=grad_norms_init, grad_norms_trained=grad_norms_trained)
