"""What the recurrent layers share: weights, input checks, the time-major layout, the GEMMs.

A recurrent layer reads a batch of sequences x (N, T, D) - batch-major, like PyTorch's
``batch_first=True`` - and returns the hidden state of every step, h (N, T, H). Inside, every
array is *time-major*, (T, N, ...), so that the state of step t is one contiguous block
``[t]``. The work is split so that the time loop does only what is really sequential:

1. the input projection ``x_t @ Wx + b`` of all T steps at once: one GEMM over T*N rows
   (:meth:`RecurrentBase._project_inputs`);
2. the time loop (in :class:`~backprop_kit.layers.rnn.RNN` and
   :class:`~backprop_kit.layers.lstm.LSTM`): ``h_{t-1} @ Wh`` and the nonlinearities;
3. after the backward loop, dWx, dWh, db and dx, each one GEMM (or one sum) over all T*N rows
   (:meth:`RecurrentBase._finish_backward`): dWx = sum_t x_t^T dz_t is a single product of the
   stacked (T*N, D) inputs with the stacked (T*N, G*H) pre-activation gradients.

Both layers keep the gradient of the initial state (``dh0``) and the state after the last
step (``last_state``), which is what truncated backpropagation through time carries from one
window to the next (see :mod:`backprop_kit.sequences`), and ``dh_total`` (N, T, H): dL/dh_t
at every step, the upstream ``dh[:, t]`` plus what flows back from step t+1 - the quantity
whose norm over t shows vanishing or exploding gradients.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.init import xavier_uniform
from backprop_kit.layers._validate import (
    check_dtype,
    check_float_array,
    check_positive_int,
    check_upstream,
    require_shape,
)
from backprop_kit.layers.base import Layer

__all__ = ["RecurrentBase", "batch_major"]


class RecurrentBase(Layer):
    """Base class of RNN and LSTM: parameters of G gate blocks and the shared steps.

    Parameters
    ----------
    input_size, hidden_size : int
        D, the size of one input x_t, and H, the size of the hidden state h_t.
    n_blocks : int
        G, the number of (H)-wide blocks of the pre-activation: 1 for the plain RNN, 4 for
        the LSTM's gates.
    rng : np.random.Generator
        Draws the initial weights.
    dtype : float dtype
        Dtype of the parameters; inputs and states must have it too.

    Attributes
    ----------
    params : dict
        ``"Wx"`` (D, G*H), ``"Wh"`` (H, G*H), ``"b"`` (G*H,). Each H-wide block of Wx and Wh
        is drawn Glorot-uniform with fan_in D (resp. H) and fan_out H, Var = 2 / (fan_in + H)
        (Glorot & Bengio 2010); b starts at zero.
    grads : dict
        Same keys and shapes, overwritten by each backward.
    last_state
        The state after the last step of the last forward (set by the subclass).
    dh0 : np.ndarray or None
        dL/dh0, shape (N, H), set by backward.
    dh_total : np.ndarray or None
        dL/dh_t for every step, shape (N, T, H), set by backward (a read-only view).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        n_blocks: int,
        rng: np.random.Generator,
        dtype: DTypeLike,
    ) -> None:
        where = type(self).__name__
        self.input_size = check_positive_int(input_size, "input_size", where)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", where)
        d, h = self.input_size, self.hidden_size
        width = n_blocks * h
        w_x = xavier_uniform((d, width), rng, fan_in=d, fan_out=h, dtype=dtype)
        w_h = xavier_uniform((h, width), rng, fan_in=h, fan_out=h, dtype=dtype)
        super().__init__(Wx=w_x, Wh=w_h, b=np.zeros(width, dtype=w_x.dtype))
        self.dh0: np.ndarray | None = None
        self.dh_total: np.ndarray | None = None

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters."""
        return self.params["Wx"].dtype

    def _check_sequence(self, x: object, where: str) -> tuple[int, int]:
        """Check the input batch x (N, T, D); return (N, T)."""
        check_float_array(x, "x", where)
        require_shape(x, ("N", "T", self.input_size), "x", where)
        check_dtype(x, self.dtype, "x", where)
        n, t = x.shape[:2]
        if n == 0 or t == 0:
            raise ValueError(
                f"{where}: x must hold at least one sequence of at least one step, got shape "
                f"{x.shape}"
            )
        return n, t

    def _initial_state(self, state: object, name: str, n: int, where: str) -> np.ndarray:
        """Check an initial state (N, H); zeros when it is None."""
        if state is None:
            return np.zeros((n, self.hidden_size), dtype=self.dtype)
        check_float_array(state, name, where)
        require_shape(state, (n, self.hidden_size), name, where)
        check_dtype(state, self.dtype, name, where)
        return state

    def _check_upstream(self, dh: object, n: int, t: int, where: str) -> np.ndarray:
        """Check the upstream gradient dh (N, T, H); return it in the parameters' dtype."""
        return check_upstream(dh, (n, t, self.hidden_size), self.dtype, "dh", where)

    def _project_inputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The input part of every pre-activation, ``x_t @ Wx + b``, as one GEMM.

        Parameters
        ----------
        x : np.ndarray
            Inputs, shape (N, T, D).

        Returns
        -------
        x_rows : np.ndarray
            The inputs time-major and stacked, shape (T*N, D): row t*N + n is x[n, t].
        z : np.ndarray
            ``x_t @ Wx + b`` for every step, time-major, shape (T, N, G*H); a fresh array the
            caller may overwrite.
        """
        n, t, d = x.shape
        x_rows = x.transpose(1, 0, 2).reshape(t * n, d)  # reshape copies into time-major order
        z = x_rows @ self.params["Wx"]
        z += self.params["b"]
        return x_rows, z.reshape(t, n, -1)

    def _finish_backward(
        self, x_rows: np.ndarray, h_prev: np.ndarray, dz: np.ndarray
    ) -> np.ndarray:
        """Fill dWx, dWh, db (one GEMM or sum each) and return dx.

        Parameters
        ----------
        x_rows : np.ndarray
            Stacked time-major inputs, shape (T*N, D), from :meth:`_project_inputs`.
        h_prev : np.ndarray
            The states that entered each step, h_{t-1} for t = 0..T-1, shape (T, N, H).
        dz : np.ndarray
            dL/d(pre-activation) of every step, shape (T, N, G*H).

        Returns
        -------
        np.ndarray
            dL/dx = dz_t @ Wx^T for every step, shape (N, T, D) (a view of a fresh array).
        """
        t, n, width = dz.shape
        dz_rows = dz.reshape(t * n, width)
        np.matmul(x_rows.T, dz_rows, out=self.grads["Wx"])
        np.matmul(h_prev.reshape(t * n, self.hidden_size).T, dz_rows, out=self.grads["Wh"])
        np.sum(dz_rows, axis=0, out=self.grads["b"])
        dx_rows = dz_rows @ self.params["Wx"].T
        return dx_rows.reshape(t, n, self.input_size).transpose(1, 0, 2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_size} -> {self.hidden_size})"


def batch_major(steps: np.ndarray) -> np.ndarray:
    """A read-only (N, T, H) view of time-major (T, N, H) states, without copying.

    Read-only because it shares memory with the layer's cache: writing into the output of
    forward would silently change what backward computes. Copy it (``h.copy()``) to modify.
    """
    view = steps.transpose(1, 0, 2)
    view.flags.writeable = False
    return view
