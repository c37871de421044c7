"""The plain (Elman) recurrent layer with a tanh nonlinearity, over whole sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.layers.recurrent import RecurrentBase, batch_major

__all__ = ["RNN", "RNNCache"]


@dataclass
class RNNCache:
    """What :class:`RNN` keeps between forward and backward.

    Attributes
    ----------
    x_rows : np.ndarray
        The inputs, time-major and stacked, shape (T*N, D): row t*N + n is x[n, t].
    h : np.ndarray
        Every state, time-major, shape (T+1, N, H): ``h[0]`` is h0 and ``h[t+1]`` is h_t.
    """

    x_rows: np.ndarray
    h: np.ndarray


class RNN(RecurrentBase):
    """Recurrent layer ``h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b)`` over a batch of sequences.

    forward:  x (N, T, D), h0 (N, H) or None (zeros) -> h (N, T, H), h[:, t] = h_t
    backward: dh (N, T, H) = dL/dh_t from the layers above -> dx (N, T, D); fills grads and
              ``dh0`` (N, H)

    Backpropagation through time. Write a_t = x_t Wx + h_{t-1} Wh + b, so h_t = tanh(a_t).
    h_t reaches the loss directly (dh[:, t]) and through h_{t+1}, so going backward from t = T-1:

        dh_total_t = dh[:, t] + da_{t+1} @ Wh^T        (the second term is 0 at t = T-1)
        da_t       = dh_total_t * (1 - h_t**2)          (tanh' from the output h_t)
        dh0        = da_0 @ Wh^T

    and the parameters are shared by all steps, so their gradients sum over t:
    dWx = sum_t x_t^T da_t, dWh = sum_t h_{t-1}^T da_t, db = sum_t sum_n da_t, while
    dx_t = da_t @ Wx^T. Only the recursion for dh_total is sequential; the four sums are one
    GEMM each over all T*N rows after the loop (see :mod:`backprop_kit.layers.recurrent`).

    Parameters
    ----------
    input_size, hidden_size : int
        D and H.
    rng : np.random.Generator
        Draws the initial weights: Glorot uniform for Wx (D, H) and Wh (H, H), b = 0.
    dtype : float dtype, default float64
        Dtype of the parameters; x, h0 and dh must have it too (float64 for gradient
        checking, float32 for speed).

    Attributes
    ----------
    params : dict
        ``"Wx"`` (D, H), ``"Wh"`` (H, H), ``"b"`` (H,).
    grads : dict
        Same keys and shapes, overwritten (not accumulated) by each backward.
    cache : RNNCache
        The stacked inputs and all states of the last forward.
    last_state : np.ndarray
        h_{T-1}, shape (N, H), after forward: pass it as the next call's ``h0`` to carry the
        state across windows of a long sequence (truncated BPTT).
    dh0 : np.ndarray
        dL/dh0, shape (N, H), after backward.
    dh_total : np.ndarray
        dL/dh_t for every step, shape (N, T, H), after backward (read-only view).

    Notes
    -----
    The output h of forward is a read-only view of the cached states (no copy is made);
    ``h.copy()`` gives a writable array.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        rng: np.random.Generator,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(input_size, hidden_size, n_blocks=1, rng=rng, dtype=dtype)
        self.last_state: np.ndarray | None = None

    def forward(self, x: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
        """Run the recurrence over all T steps.

        Parameters
        ----------
        x : np.ndarray
            Inputs, shape (N, T, D).
        h0 : np.ndarray, optional
            Initial state, shape (N, H); zeros when omitted.

        Returns
        -------
        np.ndarray
            Every hidden state, shape (N, T, H): ``h[:, t]`` is h_t (read-only view).
        """
        where = f"{self!r}.forward"
        n, steps = self._check_sequence(x, where)
        h_init = self._initial_state(h0, "h0", n, where)
        x_rows, a = self._project_inputs(x)  # a[t] = x_t Wx + b, for every t at once
        w_h = self.params["Wh"]
        h = np.empty((steps + 1, n, self.hidden_size), dtype=self.dtype)
        h[0] = h_init
        for t in range(steps):
            np.matmul(h[t], w_h, out=h[t + 1])
            h[t + 1] += a[t]
            np.tanh(h[t + 1], out=h[t + 1])
        self.cache = RNNCache(x_rows=x_rows, h=h)
        self.last_state = h[steps].copy()
        return batch_major(h[1:])

    def backward(self, dh: np.ndarray) -> np.ndarray:
        """Backpropagate through time: fill grads and ``dh0``, return dx.

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
        h = cache.h
        steps, n = h.shape[0] - 1, h.shape[1]
        dh = self._check_upstream(dh, n, steps, f"{self!r}.backward")
        da = np.square(h[1:])
        np.subtract(1, da, out=da)  # tanh'(a_t) = 1 - h_t**2 for all steps; times dh_total below
        dh_total = np.empty_like(da)
        w_h_t = self.params["Wh"].T
        from_next = np.zeros((n, self.hidden_size), dtype=self.dtype)  # da_{t+1} @ Wh^T
        for t in range(steps - 1, -1, -1):
            np.add(dh[:, t], from_next, out=dh_total[t])
            da[t] *= dh_total[t]
            np.matmul(da[t], w_h_t, out=from_next)
        self.dh0 = from_next  # after the loop: da_0 @ Wh^T
        self.dh_total = batch_major(dh_total)
        return self._finish_backward(cache.x_rows, h[:-1], da)
