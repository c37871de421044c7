"""Symmetry detection, the first experiment of Rumelhart, Hinton & Williams (1986).

Rumelhart, D. E., Hinton, G. E. & Williams, R. J. (1986), "Learning representations by
back-propagating errors", Nature 323:533-536. A 6-2-1 network of logistic units learns to
say whether a six-bit input vector is symmetric about its centre (x1 = x6, x2 = x5,
x3 = x4). The paper's settings: all 64 vectors in every sweep (full batch), squared error,
weights changed after each sweep by ``dw(t) = -epsilon dE/dw + alpha dw(t-1)`` with
epsilon = 0.1 and alpha = 0.9, initial weights uniform in [-0.3, 0.3]. It reports 1,425 sweeps
and a solution in which each hidden unit's weights on mirror-image inputs are equal in size
and opposite in sign, the three pairs in the ratio 1:2:4. A run counts as solved at the first
sweep after which every output is within 0.5 of its target (all 64 answers on the right side
of 0.5); it then trains on to the full budget, so that its weights settle.

Pass criteria, asserted over seeds 0-19 (20,000 sweeps each) by
``tests/experiments/test_experiments_symmetry.py``: at least 14 seeds solve the task; the
median number of sweeps to solve lies in [700, 7000] and the paper's 1,425 lies between the
fewest and the most; every solved network has mirror weights equal and opposite (antisymmetry
residual below 0.05, :func:`antisymmetry_residual`), both hidden units voting "not symmetric"
(negative output weights, positive output bias), and in at least two thirds of them the three
pair sizes are 1:2:4 to within 5%; every failed seed sits on the plateau where the network
answers "not symmetric" for all 64 vectors (accuracy 56/64, error between 3.4 and 4, no
progress over the last 10,000 sweeps, gradient norm below 1e-3), and solves the task within
30,000 sweeps. The 1,425 sweeps, the equal and opposite weights and the 1:2:4 ratio are the
paper's (Fig. 1 and its caption); the plateau criteria describe how this reproduction's
failing seeds behave (the paper reports one run).

The experiment is vectorized over seeds: the parameters of S networks form one (17, S) block
(seed axis last), so each layer of all S networks is a single 2-D matrix product and 20
networks train in about the time of one. Each seed draws its own initial weights from
``np.random.default_rng(seed)``: a seed's run does not depend on which seeds run with it
(up to rounding in the last digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "INPUTS",
    "PAPER_SWEEPS",
    "TARGETS",
    "SymmetryRun",
    "antisymmetry_residual",
    "initial_weights",
    "mirror_ratios",
    "predict",
    "run_symmetry",
    "symmetry_data",
]

N_INPUTS, N_HIDDEN = 6, 2
N_W1 = N_INPUTS * N_HIDDEN
N_PARAMS = N_W1 + 2 * N_HIDDEN + 1  # W1 (6, 2), b1 (2,), w2 (2,), b2 (): 17
PAPER_SWEEPS = 1425
"""Sweeps the paper's network needed to learn the task (Rumelhart, Hinton & Williams 1986)."""


def symmetry_data() -> tuple[np.ndarray, np.ndarray]:
    """All 64 six-bit input vectors and whether each is symmetric about its centre.

    Returns
    -------
    inputs : np.ndarray
        (64, 6) float64 of 0s and 1s; row k holds the binary digits of k, most significant
        first.
    targets : np.ndarray
        (64,) float64: 1.0 where ``inputs[k]`` reads the same backwards, else 0.0 (8 of 64).
    """
    codes = np.arange(2**N_INPUTS)
    inputs = ((codes[:, None] >> np.arange(N_INPUTS - 1, -1, -1)) & 1).astype(np.float64)
    targets = np.all(inputs == inputs[:, ::-1], axis=1).astype(np.float64)
    return inputs, targets


INPUTS, TARGETS = symmetry_data()
INPUTS.setflags(write=False)   # shared by every run: code that writes into them fails loudly
TARGETS.setflags(write=False)


@dataclass(frozen=True)
class SymmetryRun:
    """The outcome of one seed.

    Attributes
    ----------
    seed : int
        Seed of the initial weights.
    solved : bool
        Whether every output came within 0.5 of its target at some sweep.
    sweeps_to_solve : int or None
        The number of weight changes after which every |o - d| < 0.5 for the first time;
        None if that never happened.
    weights : dict of np.ndarray
        After the last weight change: "W1" (6, 2) input-to-hidden, "b1" (2,), "w2" (2,)
        hidden-to-output, "b2" () output bias (a 0-d array).
    errors : np.ndarray
        (max_sweeps + 1,) the squared error E = 1/2 sum_p (o_p - d_p)^2 over the 64 vectors,
        before the first weight change (index 0) and after each one.
    accuracy : float
        Fraction of the 64 vectors with |o - d| < 0.5 with the final weights.
    gradient_norm : float
        Euclidean norm of dE/d(all 17 weights and biases) at the final weights: tiny on a
        plateau.
    antisymmetry_residual : float
        :func:`antisymmetry_residual` of the final ``W1``.
    mirror_ratios : np.ndarray
        (2, 3) :func:`mirror_ratios` of the final ``W1``.
    """

    seed: int
    solved: bool
    sweeps_to_solve: int | None
    weights: dict[str, np.ndarray]
    errors: np.ndarray
    accuracy: float
    gradient_norm: float
    antisymmetry_residual: float
    mirror_ratios: np.ndarray


def predict(weights: dict[str, np.ndarray], inputs: np.ndarray = INPUTS) -> np.ndarray:
    """The output of one trained 6-2-1 network, o = sigmoid(sigmoid(x W1 + b1) w2 + b2).

    Parameters
    ----------
    weights : dict of np.ndarray
        "W1" (6, 2), "b1" (2,), "w2" (2,), "b2" () as in :attr:`SymmetryRun.weights`.
    inputs : np.ndarray, default INPUTS
        (P, 6) input vectors.

    Returns
    -------
    np.ndarray
        (P,) outputs in (0, 1); above 0.5 means "symmetric".
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 2 or inputs.shape[1] != N_INPUTS:
        raise ValueError(f"predict: inputs must have shape (P, 6), got {inputs.shape}")
    hidden = inputs @ weights["W1"] + weights["b1"]
    with np.errstate(over="ignore"):
        _sigmoid(hidden, hidden)
        output = hidden @ weights["w2"] + weights["b2"]
        _sigmoid(output, output)
    return output


def _check_w1(W1: np.ndarray, where: str) -> np.ndarray:
    W1 = np.asarray(W1, dtype=np.float64)
    if W1.ndim != 2 or W1.shape[0] != N_INPUTS:
        raise ValueError(f"{where}: W1 must have shape (6, H), got {W1.shape}")
    return W1


def antisymmetry_residual(W1: np.ndarray) -> float:
    """How far each hidden unit's weights are from exact mirror anti-symmetry.

    For hidden unit j with input weights w = ``W1[:, j]``, anti-symmetry means
    w[i] = -w[5 - i]; the residual is ||w + w reversed|| / ||w||, and the function returns the
    largest over the hidden units: 0 for an exactly anti-symmetric solution, about 1 for
    random weights.

    Parameters
    ----------
    W1 : np.ndarray
        (6, H) input-to-hidden weights.

    Returns
    -------
    float
    """
    W1 = _check_w1(W1, "antisymmetry_residual")
    mismatch = np.linalg.norm(W1 + W1[::-1], axis=0)
    return float(np.max(mismatch / np.linalg.norm(W1, axis=0)))


def mirror_ratios(W1: np.ndarray) -> np.ndarray:
    """Sizes of each hidden unit's three mirror-pair weights, relative to the smallest.

    Pair k joins inputs k and 5 - k (outer, middle, inner pair); its size is
    |w[k] - w[5 - k]| / 2, the common magnitude of an anti-symmetric pair. The paper's
    solution has sizes in the ratio 1:2:4 (in some order).

    Parameters
    ----------
    W1 : np.ndarray
        (6, H) input-to-hidden weights.

    Returns
    -------
    np.ndarray
        (H, 3): row j holds unit j's pair sizes (outer, middle, inner) divided by the smallest.
    """
    W1 = _check_w1(W1, "mirror_ratios")
    sizes = np.abs(W1[:3] - W1[:2:-1]).T / 2.0
    return sizes / sizes.min(axis=1, keepdims=True)


def _unpack(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Views W1 (6, 2S), b1 (2S,), w2 (2, S), b2 (S,) into a C-ordered (17, S) block.

    Column j * S + s of W1 and entry j * S + s of b1 belong to hidden unit j of seed s.
    """
    n_seeds = block.shape[1]
    W1 = block[:N_W1].reshape(N_INPUTS, N_HIDDEN * n_seeds)
    b1 = block[N_W1 : N_W1 + N_HIDDEN].reshape(N_HIDDEN * n_seeds)
    w2 = block[N_W1 + N_HIDDEN : N_W1 + 2 * N_HIDDEN]
    return W1, b1, w2, block[-1]


def _weights_of(column: np.ndarray) -> dict[str, np.ndarray]:
    """One seed's (17,) parameter column as copies W1 (6, 2), b1 (2,), w2 (2,), b2 () arrays."""
    return {
        "W1": column[:N_W1].reshape(N_INPUTS, N_HIDDEN).copy(),
        "b1": column[N_W1 : N_W1 + N_HIDDEN].copy(),
        "w2": column[N_W1 + N_HIDDEN : N_W1 + 2 * N_HIDDEN].copy(),
        "b2": column[-1:].reshape(()).copy(),  # a 0-d array, so it can be updated in place
    }


def _initial_column(seed: int, init_range: float) -> np.ndarray:
    """A seed's 17 initial parameters in the block layout: W1 row by row, b1, w2, b2."""
    return np.random.default_rng(seed).uniform(-init_range, init_range, N_PARAMS)


def initial_weights(seed: int, init_range: float = 0.3) -> dict[str, np.ndarray]:
    """The initial weights :func:`run_symmetry` gives the network of ``seed``.

    Parameters
    ----------
    seed : int
        Seed of ``np.random.default_rng``.
    init_range : float, default 0.3
        Every weight and bias is uniform in [-init_range, init_range].

    Returns
    -------
    dict of np.ndarray
        "W1" (6, 2), "b1" (2,), "w2" (2,), "b2" () as in :attr:`SymmetryRun.weights`.
    """
    return _weights_of(_initial_column(int(seed), init_range))


def _sigmoid(z: np.ndarray, out: np.ndarray) -> None:
    """out = 1 / (1 + exp(-z)), in place when ``out is z``.

    exp overflows (to inf) only where the answer is 0 anyway: call it under
    ``np.errstate(over="ignore")``.
    """
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


class _Networks:
    """S networks of the symmetry task trained side by side, seed axis last.

    ``params``, ``step`` and ``grads`` are (17, S) (see :func:`_unpack` for the layout); the
    work arrays are allocated once, so a sweep allocates almost nothing.
    """

    def __init__(self, params: np.ndarray, learning_rate: float, momentum: float) -> None:
        n_seeds, n_patterns = params.shape[1], len(TARGETS)
        self.learning_rate, self.momentum = learning_rate, momentum
        self.params = np.ascontiguousarray(params)  # C order: _unpack's reshapes are views
        self.grads = np.zeros_like(self.params)
        self.step = np.zeros_like(self.params)
        self.scaled = np.empty_like(self.params)
        self.weights = _unpack(self.params)
        self.weight_grads = _unpack(self.grads)
        self.hidden = np.empty((n_patterns, N_HIDDEN * n_seeds))      # h, then h (1 - h)
        self.slope = np.empty_like(self.hidden)                       # dE/d(hidden net input)
        self.products = np.empty((n_patterns, N_HIDDEN, n_seeds))
        self.output = np.empty((n_patterns, n_seeds))                 # o
        self.miss = np.empty_like(self.output)                        # o - d
        self.delta_out = np.empty_like(self.output)                   # dE/d(output net input)
        self.targets = TARGETS[:, None]

    def sweep(self, errors: np.ndarray) -> np.ndarray:
        """Forward and backward over the 64 vectors at the current parameters.

        Writes sum_p (o_p - d_p)^2 per network into ``errors`` (S,), fills ``grads`` with
        dE/dparams and returns the (S,) largest |o - d| of each network.
        """
        W1, b1, w2, b2 = self.weights
        gW1, gb1, gw2, gb2 = self.weight_grads
        n_seeds = self.params.shape[1]
        hidden_3d = self.hidden.reshape(-1, N_HIDDEN, n_seeds)
        slope_3d = self.slope.reshape(-1, N_HIDDEN, n_seeds)
        np.matmul(INPUTS, W1, out=self.hidden)
        self.hidden += b1
        _sigmoid(self.hidden, self.hidden)                              # h, (64, 2S)
        np.multiply(hidden_3d, w2, out=self.products)
        np.sum(self.products, axis=1, out=self.output)
        self.output += b2
        _sigmoid(self.output, self.output)                              # o, (64, S)
        np.subtract(self.output, self.targets, out=self.miss)           # dE/do = o - d
        np.square(self.miss, out=self.delta_out)
        np.sum(self.delta_out, axis=0, out=errors)
        # dE/d(output net input) = (o - d) o (1 - o)
        np.subtract(1.0, self.output, out=self.delta_out)
        self.delta_out *= self.output
        self.delta_out *= self.miss
        np.multiply(hidden_3d, self.delta_out[:, None, :], out=self.products)
        np.sum(self.products, axis=0, out=gw2)
        np.sum(self.delta_out, axis=0, out=gb2)
        # dE/d(hidden net input) = dE/d(output net input) w2 h (1 - h)
        np.subtract(1.0, self.hidden, out=self.slope)
        self.slope *= self.hidden
        slope_3d *= w2
        slope_3d *= self.delta_out[:, None, :]
        np.matmul(INPUTS.T, self.slope, out=gW1)
        np.sum(self.slope, axis=0, out=gb1)
        np.abs(self.miss, out=self.miss)
        return self.miss.max(axis=0)

    def update(self) -> None:
        """The paper's rule: step = alpha step - epsilon grads; params += step."""
        self.step *= self.momentum
        np.multiply(self.grads, self.learning_rate, out=self.scaled)
        self.step -= self.scaled
        self.params += self.step


def run_symmetry(
    seeds: list[int] | range,
    max_sweeps: int = 20_000,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    init_range: float = 0.3,
) -> list[SymmetryRun]:
    """Train one 6-2-1 logistic network per seed on the symmetry task, all seeds at once.

    Every sweep presents all 64 vectors, computes E = 1/2 sum_p (o_p - d_p)^2 and its gradient
    by backprop, and changes every weight and bias by ``dw = -learning_rate * dE/dw +
    momentum * dw_previous`` (the paper's rule; dE/dw is summed over the vectors, not
    averaged). Every network makes ``max_sweeps`` weight changes; it has solved the task at
    the first sweep where all 64 outputs are within 0.5 of their targets.

    Parameters
    ----------
    seeds : sequence of int
        One network per seed; its initial weights and biases are drawn from
        ``np.random.default_rng(seed)``, uniform in [-init_range, init_range].
    max_sweeps : int, default 20_000
        Weight changes per network.
    learning_rate : float, default 0.1
        The paper's epsilon, > 0.
    momentum : float, default 0.9
        The paper's alpha, in [0, 1).
    init_range : float, default 0.3
        Half-width of the uniform initial distribution, > 0.

    Returns
    -------
    list of SymmetryRun
        One per seed, in the order of ``seeds``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("run_symmetry: give at least one seed")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, int) or max_sweeps < 1:
        raise ValueError(f"run_symmetry: max_sweeps must be a positive integer, got {max_sweeps!r}")
    if not (learning_rate > 0 and 0 <= momentum < 1 and init_range > 0):
        raise ValueError(
            "run_symmetry: need learning_rate > 0, 0 <= momentum < 1 and init_range > 0, got "
            f"{learning_rate!r}, {momentum!r}, {init_range!r}"
        )
    start = np.stack([_initial_column(s, init_range) for s in seeds], axis=1)
    nets = _Networks(start, learning_rate, momentum)
    errors = np.empty((max_sweeps + 1, len(seeds)))
    solved_at = np.full(len(seeds), -1)                 # -1: not solved (yet)
    with np.errstate(over="ignore"):
        for sweep in range(max_sweeps + 1):
            misses = nets.sweep(errors[sweep])
            newly = misses < 0.5
            newly &= solved_at < 0
            if newly.any():
                solved_at[newly] = sweep
            if sweep < max_sweeps:
                nets.update()
    errors *= 0.5

    runs = []
    for k, seed in enumerate(seeds):
        weights = _weights_of(nets.params[:, k])
        solved = bool(solved_at[k] >= 0)
        runs.append(
            SymmetryRun(
                seed=seed,
                solved=solved,
                sweeps_to_solve=int(solved_at[k]) if solved else None,
                weights=weights,
                errors=errors[:, k].copy(),
                accuracy=float(np.mean(np.abs(predict(weights) - TARGETS) < 0.5)),
                gradient_norm=float(np.linalg.norm(nets.grads[:, k])),
                antisymmetry_residual=antisymmetry_residual(weights["W1"]),
                mirror_ratios=mirror_ratios(weights["W1"]),
            )
        )
    return runs
