"""Tuned 2-D convolution kernels: the numbers of ``layers.conv``, faster; used by Conv2D.

The readable version (``backprop_kit.layers.conv``) pads x, gathers the windows into ``cols``
(C*kh*kw, N*Ho*Wo) and computes

    y = W @ cols + b,   dW = dY @ cols.T,   db = dY summed,   dx = col2im(W.T @ dY)

with dY = dy as (F, N*Ho*Wo). These kernels compute the same products, arranged for speed
(numpy only, no loop over windows):

- im2col and col2im loop over the kh*kw kernel offsets: offset (i, j) of all windows is one
  strided slice of the input (``Window.tap``), so im2col is kh*kw slice copies and col2im
  kh*kw strided in-place adds. No padded copy of x is made: entries of ``cols`` that read
  padding are zeros that stay in a reused buffer, which is reused only for the same input
  shape (another shape with the same buffer size has its padding elsewhere).
- ``cols`` is channel-major, (C, kh, kw) by (N, Ho, Wo), with one more row of ones so that
  the bias rides along in the products: ``[W | b] @ [cols; 1] = W @ cols + b``, and
  ``dY @ [cols; 1].T = [dW | db]``.
- The forward and dcols are one product per sample (a single ``np.matmul`` call over a stack
  of BLAS products), which writes y straight into (N, F, Ho, Wo) order, with no transposing
  copy of the output. dW and db are one product over all N*Ho*Wo positions, or one per
  sample when a sample has many positions (see :data:`PER_SAMPLE_WEIGHT_GRAD_POSITIONS`).
- Scratch buffers (:class:`Workspace`) are reused from call to call: large fresh arrays cost
  page faults on every call.

Inputs are not checked here: :class:`~backprop_kit.layers.conv.Conv2D` checks them first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the layers package imports this module: no import of it at run time
    from backprop_kit.layers.windows import Window

__all__ = ["PER_SAMPLE_WEIGHT_GRAD_POSITIONS", "FastConv", "Workspace"]


class Workspace:
    """Named scratch buffers, allocated on first use and reused while shape, dtype and key hold.

    Nothing a caller keeps (an output, a returned gradient) lives here: only intermediate
    arrays that the next call may overwrite.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, tuple[np.ndarray, Hashable]] = {}

    def get(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        *,
        prepare: Callable[[np.ndarray], None] | None = None,
        key: Hashable = None,
    ) -> np.ndarray:
        """Return the buffer ``name`` with this shape and dtype.

        Parameters
        ----------
        name : str
            Which buffer.
        shape : tuple of int
        dtype : np.dtype
        prepare : callable, optional
            If given, a newly allocated buffer is zero-filled and passed to it (to set
            constant entries once); a reused buffer keeps its contents. Without it a new
            buffer is left uninitialised.
        key : hashable, optional
            What else the kept contents depend on (e.g. the input shape whose padding
            positions hold zeros): a buffer allocated under another key is not reused.

        Returns
        -------
        np.ndarray
            Shape ``shape``, C-contiguous.
        """
        buffer, kept_key = self._buffers.get(name, (None, None))
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype or kept_key != key:
            if prepare is None:
                buffer = np.empty(shape, dtype=dtype)
            else:
                buffer = np.zeros(shape, dtype=dtype)
                prepare(buffer)
            self._buffers[name] = (buffer, key)
        return buffer


def _set_last_row_to_one(buffer: np.ndarray) -> None:
    buffer[-1] = 1


PER_SAMPLE_WEIGHT_GRAD_POSITIONS = 256
"""Output positions per sample (Ho*Wo) from which dW is computed as one product per sample.

With many positions per sample and few rows C*kh*kw (a first layer), the single product
(F, N*Ho*Wo) @ (N*Ho*Wo, C*kh*kw + 1) has a long inner dimension and a tiny output, a shape
OpenBLAS handles slowly, and it needs dy transposed into a copy; N products of
(F, Ho*Wo) @ (Ho*Wo, C*kh*kw + 1) were up to 2x faster for the benchmark's shapes (a) and (c)
(784 and 1024 positions) and slower below about 200 positions, where the per-call cost of
small products dominates (measured on one core of an AMD EPYC, numpy 2.4 with OpenBLAS 0.3).
"""


def _add_columns(blocks: np.ndarray, x_shape: tuple[int, int, int, int], window: Window):
    """col2im on a (C, kh, kw, N, Ho, Wo) view of the column gradients; returns dx (fresh)."""
    n, c, h, w = x_shape
    out = blocks.shape[4:]
    dx = np.zeros(x_shape, dtype=blocks.dtype)
    channels_first = dx.transpose(1, 0, 2, 3)  # a (C, N, H, W) view of dx
    for i, j in window.offsets():
        (in_rows, in_cols), (out_rows, out_cols) = window.tap(i, j, (h, w), out)
        channels_first[:, :, in_rows, in_cols] += blocks[:, i, j, :, out_rows, out_cols]
    return dx


class FastConv:
    """The tuned forward and backward of one convolution window, with its scratch buffers.

    Parameters
    ----------
    window : Window
        Kernel (kh, kw), stride and padding.
    """

    def __init__(self, window: Window) -> None:
        self.window = window
        self._workspace = Workspace()

    def columns(self, x: np.ndarray) -> np.ndarray:
        """im2col of x with a last row of ones: ``[cols; 1]``, shape (C*kh*kw + 1, N*Ho*Wo).

        A scratch buffer, overwritten by the next call. It is zeroed when allocated, and
        each call writes only the entries that come from x, so the entries that read padding
        stay zero; it is allocated anew for every new input shape.

        Parameters
        ----------
        x : np.ndarray
            Shape (N, C, H, W).
        """
        n, c, h, w = x.shape
        kh, kw = self.window.kernel
        out = self.window.output_size(h, w, "FastConv.columns")
        rows = c * kh * kw
        columns = self._workspace.get(
            "cols", (rows + 1, n * out[0] * out[1]), x.dtype,
            prepare=_set_last_row_to_one, key=x.shape,
        )
        blocks = columns[:rows].reshape(c, kh, kw, n, *out)
        channels_first = x.transpose(1, 0, 2, 3)  # (C, N, H, W) view, the layout of the blocks
        for i, j in self.window.offsets():
            (in_rows, in_cols), (out_rows, out_cols) = self.window.tap(i, j, (h, w), out)
            blocks[:, i, j, :, out_rows, out_cols] = channels_first[:, :, in_rows, in_cols]
        return columns

    def forward(
        self, x: np.ndarray, weights: np.ndarray, bias: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """y = [W | b] @ [cols; 1], one product per sample, written straight into (N, F, Ho, Wo).

        Parameters
        ----------
        x : np.ndarray
            Shape (N, C, H, W).
        weights : np.ndarray
            Shape (F, C, kh, kw), dtype of x.
        bias : np.ndarray
            Shape (F,), dtype of x.

        Returns
        -------
        y : np.ndarray
            Shape (N, F, Ho, Wo), a fresh array.
        columns : np.ndarray
            ``[cols; 1]`` (C*kh*kw + 1, N*Ho*Wo), for :meth:`backward` (a scratch buffer).
        """
        n, f = x.shape[0], weights.shape[0]
        out = self.window.output_size(*x.shape[2:], "FastConv.forward")
        columns = self.columns(x)
        weights_and_bias = np.concatenate([weights.reshape(f, -1), bias[:, None]], axis=1)
        y = np.empty((n, f, out[0] * out[1]), dtype=columns.dtype)
        # Sample n's columns are a (C*kh*kw + 1, Ho*Wo) slice of the buffer; matmul runs one
        # BLAS product per sample and writes each result where (N, F, Ho*Wo) has it.
        per_sample = columns.reshape(len(columns), n, out[0] * out[1]).transpose(1, 0, 2)
        np.matmul(weights_and_bias, per_sample, out=y)
        return y.reshape(n, f, *out), columns

    def backward(
        self,
        dy: np.ndarray,
        columns: np.ndarray,
        x_shape: tuple[int, int, int, int],
        weights: np.ndarray,
        grad_weights: np.ndarray,
        grad_bias: np.ndarray,
        input_grad: bool = True,
    ) -> np.ndarray | None:
        """Write dW and db into the given arrays; return dx (None unless ``input_grad``).

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, F, Ho, Wo).
        columns : np.ndarray
            ``[cols; 1]`` from :meth:`forward` (C*kh*kw + 1, N*Ho*Wo).
        x_shape : (int, int, int, int)
            (N, C, H, W) of the forward's input.
        weights : np.ndarray
            Shape (F, C, kh, kw).
        grad_weights, grad_bias : np.ndarray
            Shapes (F, C, kh, kw) and (F,): overwritten with dW and db.
        input_grad : bool, default True
            If False, skip dx.

        Returns
        -------
        np.ndarray or None
            dL/dx, shape ``x_shape``, a fresh array.
        """
        n, f = dy.shape[:2]
        positions = dy.shape[2] * dy.shape[3]
        # [dW | db] = dY @ [cols; 1].T, summed over all N*Ho*Wo positions.
        if positions >= PER_SAMPLE_WEIGHT_GRAD_POSITIONS:
            # One product per sample, (F, Ho*Wo) @ (Ho*Wo, C*kh*kw + 1), straight from dy and
            # the buffer's sample slices, then a sum over the N small results.
            per_sample = columns.reshape(len(columns), n, positions).transpose(1, 2, 0)
            grads = np.matmul(dy.reshape(n, f, positions), per_sample).sum(axis=0)
        else:
            # One product over all positions, with dy copied into the filter-major layout
            # (F, N*Ho*Wo) of the columns.
            dy_fm = self._workspace.get("dy_fm", (f, n, positions), dy.dtype)
            dy_fm[...] = dy.reshape(n, f, positions).transpose(1, 0, 2)
            grads = self._workspace.get("dW_db", (f, len(columns)), dy.dtype)
            np.matmul(dy_fm.reshape(f, -1), columns.T, out=grads)
        grad_weights.reshape(f, -1)[...] = grads[:, :-1]
        grad_bias[...] = grads[:, -1]
        if not input_grad:
            return None
        # dcols = W.T @ dY, one product per sample, each into its own (C*kh*kw, Ho*Wo) block.
        dcols = self._workspace.get("dcols", (n, len(columns) - 1, positions), dy.dtype)
        np.matmul(weights.reshape(f, -1).T, dy.reshape(n, f, positions), out=dcols)
        c = x_shape[1]
        blocks = dcols.reshape(n, c, *self.window.kernel, *dy.shape[2:]).transpose(
            1, 2, 3, 0, 4, 5
        )
        return _add_columns(blocks, x_shape, self.window)

