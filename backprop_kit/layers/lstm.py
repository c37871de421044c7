"""The long short-term memory layer (LSTM) over whole sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.layers.recurrent import RecurrentBase, batch_major

__all__ = ["LSTM", "LSTMCache"]


def _sigmoid_in_place(z: np.ndarray) -> None:
    """Overwrite z with sigmoid(z) = (1 + tanh(z / 2)) / 2, which cannot overflow."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5


@dataclass
class LSTMCache:
    """What :class:`LSTM` keeps between forward and backward (all time-major).

    Attributes
    ----------
    x_rows : np.ndarray
        The inputs, stacked, shape (T*N, D): row t*N + n is x[n, t].
    h : np.ndarray
        Hidden states, shape (T+1, N, H): ``h[0]`` is h0, ``h[t+1]`` is h_t.
    c : np.ndarray
        Cell states, shape (T+1, N, H): ``c[0]`` is c0, ``c[t+1]`` is c_t.
    gates : np.ndarray
        The gates after their nonlinearities, shape (T, N, 4H), blocks i, f, o, g.
    tanh_c : np.ndarray
        tanh(c_t), shape (T, N, H).
    """

    x_rows: np.ndarray
    h: np.ndarray
    c: np.ndarray
    gates: np.ndarray
    tanh_c: np.ndarray


class LSTM(RecurrentBase):
    """LSTM layer (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    forward:  x (N, T, D), h0, c0 (N, H) or None (zeros) -> h (N, T, H), h[:, t] = h_t
    backward: dh (N, T, H) -> dx (N, T, D); fills grads, ``dh0`` and ``dc0`` (N, H)

    One step, with z_t = x_t Wx + h_{t-1} Wh + b split into four H-wide blocks in the order
    **i, f, o, g** (input gate, forget gate, output gate, candidate)::

        i = sigmoid(z_i)   f = sigmoid(z_f)   o = sigmoid(z_o)   g = tanh(z_g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Backward, from t = T-1 down to 0, with dh_total_t = dh[:, t] + dz_{t+1} @ Wh^T and
    dc_total_t = dc_t carried from step t+1 (f_{t+1} * dc_total_{t+1}, zero at t = T-1)::

        dc  = dc_total_t + dh_total_t * o * (1 - tanh(c_t)**2)
        dz_o = dh_total_t * tanh(c_t) * o * (1 - o)
        dz_i = dc * g * i * (1 - i)
        dz_f = dc * c_{t-1} * f * (1 - f)
        dz_g = dc * i * (1 - g**2)
        carried to step t-1: dc * f (cell) and dz_t @ Wh^T (hidden)

    and, as in :class:`~backprop_kit.layers.rnn.RNN`, dWx, dWh, db, dx are one GEMM each over
    all steps after the loop. The sigmoid is computed as (1 + tanh(z/2)) / 2, the same
    function, which never overflows.

    Parameters
    ----------
    input_size, hidden_size : int
        D and H.
    rng : np.random.Generator
        Draws the initial weights (Glorot uniform per gate block, see
        :class:`~backprop_kit.layers.recurrent.RecurrentBase`).
    dtype : float dtype, default float64
        Dtype of the parameters and of the inputs and states.
    forget_bias : float, default 1.0
        Initial value of the forget gate's bias b_f (the other biases start at 0). A positive
        b_f makes f = sigmoid(1) = 0.73 at the start, so the cell keeps its content and the
        gradient through c_t does not vanish before anything is learned: Gers, Schmidhuber &
        Cummins (2000), "Learning to forget"; Jozefowicz, Zaremba & Sutskever (2015), "An
        empirical exploration of recurrent network architectures", found b_f = 1 closed most
        of the gap between the LSTM and the GRU.

    Attributes
    ----------
    params : dict
        ``"Wx"`` (D, 4H), ``"Wh"`` (H, 4H), ``"b"`` (4H,); columns in blocks i, f, o, g.
    grads : dict
        Same keys and shapes, overwritten by each backward.
    cache : LSTMCache
        Inputs, states, gates and tanh(c_t) of the last forward.
    last_state : tuple of np.ndarray
        ``(h_{T-1}, c_{T-1})``, each (N, H), after forward: pass them as the next call's
        ``h0, c0`` to carry the state (truncated BPTT).
    dh0, dc0 : np.ndarray
        dL/dh0 and dL/dc0, shape (N, H), after backward.
    dh_total : np.ndarray
        dL/dh_t for every step, shape (N, T, H), after backward (read-only view).

    Notes
    -----
    The output h of forward is a read-only view of the cached states (no copy is made).
    """

    GATES = ("i", "f", "o", "g")
    """Order of the four H-wide column blocks of Wx, Wh and b."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        rng: np.random.Generator,
        dtype: DTypeLike = np.float64,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__(input_size, hidden_size, n_blocks=4, rng=rng, dtype=dtype)
        hidden = self.hidden_size
        self.params["b"][hidden : 2 * hidden] = forget_bias
        self.last_state: tuple[np.ndarray, np.ndarray] | None = None
        self.dc0: np.ndarray | None = None

    def gate(self, array: np.ndarray, name: str) -> np.ndarray:
        """The block of gate ``name`` ("i", "f", "o" or "g") of a (..., 4H) array, as a view.

        Parameters
        ----------
        array : np.ndarray
            Shape (..., 4H), e.g. ``params["b"]`` or ``params["Wx"]``.
        name : str
            One of :attr:`GATES`.

        Returns
        -------
        np.ndarray
            Shape (..., H).
        """
        if name not in self.GATES:
            raise ValueError(f"{self!r}.gate: name must be one of {self.GATES}, got {name!r}")
        k, hidden = self.GATES.index(name), self.hidden_size
        return array[..., k * hidden : (k + 1) * hidden]

    def forward(
        self, x: np.ndarray, h0: np.ndarray | None = None, c0: np.ndarray | None = None
    ) -> np.ndarray:
        """Run the LSTM over all T steps.

        Parameters
        ----------
        x : np.ndarray
            Inputs, shape (N, T, D).
        h0, c0 : np.ndarray, optional
            Initial hidden and cell state, shape (N, H) each; zeros when omitted.

        Returns
        -------
        np.ndarray
            Every hidden state, shape (N, T, H) (read-only view).
        """
        where = f"{self!r}.forward"
        n, steps = self._check_sequence(x, where)
        h_init = self._initial_state(h0, "h0", n, where)
        c_init = self._initial_state(c0, "c0", n, where)
        x_rows, gates = self._project_inputs(x)  # x_t Wx + b; overwritten by the gates below
        hidden, w_h = self.hidden_size, self.params["Wh"]
        h = np.empty((steps + 1, n, hidden), dtype=self.dtype)
        c = np.empty_like(h)
        tanh_c = np.empty((steps, n, hidden), dtype=self.dtype)
        h[0], c[0] = h_init, c_init
        for t in range(steps):
            z = gates[t]
            z += h[t] @ w_h
            _sigmoid_in_place(z[:, : 3 * hidden])
            np.tanh(z[:, 3 * hidden :], out=z[:, 3 * hidden :])
            i, f, o, g = (self.gate(z, name) for name in self.GATES)
            np.multiply(f, c[t], out=c[t + 1])
            c[t + 1] += i * g
            np.tanh(c[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h[t + 1])
        self.cache = LSTMCache(x_rows=x_rows, h=h, c=c, gates=gates, tanh_c=tanh_c)
        self.last_state = (h[steps].copy(), c[steps].copy())
        return batch_major(h[1:])

    def backward(self, dh: np.ndarray) -> np.ndarray:
        """Backpropagate through time: fill grads, ``dh0`` and ``dc0``, return dx.

        Parameters
        ----------
        dh : np.ndarray
            dL/dh_t from the layers above for every step, shape (N, T, H).

        Returns
        -------
        np.ndarray
            dL/dx, shape (N, T, D).
        """
        cache = self._cached()
        steps, n, hidden = cache.tanh_c.shape
        dh = self._check_upstream(dh, n, steps, f"{self!r}.backward")
        i, f, o, g = (self.gate(cache.gates, name) for name in self.GATES)
        dz = np.empty_like(cache.gates)
        dz_i, dz_f, dz_o, dz_g = (self.gate(dz, name) for name in self.GATES)
        dh_total = np.empty_like(cache.tanh_c)
        w_h_t = self.params["Wh"].T
        from_next_h = np.zeros((n, hidden), dtype=self.dtype)  # dz_{t+1} @ Wh^T
        from_next_c = np.zeros((n, hidden), dtype=self.dtype)  # dc_{t+1} * f_{t+1}
        for t in range(steps - 1, -1, -1):
            np.add(dh[:, t], from_next_h, out=dh_total[t])
            tanh_c = cache.tanh_c[t]
            dc = from_next_c + dh_total[t] * o[t] * (1 - tanh_c * tanh_c)
            dz_o[t] = dh_total[t] * tanh_c * o[t] * (1 - o[t])
            dz_i[t] = dc * g[t] * i[t] * (1 - i[t])
            dz_f[t] = dc * cache.c[t] * f[t] * (1 - f[t])
            dz_g[t] = dc * i[t] * (1 - g[t] * g[t])
            np.multiply(dc, f[t], out=from_next_c)
            np.matmul(dz[t], w_h_t, out=from_next_h)
        self.dh0, self.dc0 = from_next_h, from_next_c
        self.dh_total = batch_major(dh_total)
        return self._finish_backward(cache.x_rows, cache.h[:-1], dz)
