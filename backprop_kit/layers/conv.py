"""2-D convolution (cross-correlation, as in every deep-learning library), NCHW, vectorized.

Shapes: x (N, C, H, W), weights W (F, C, kh, kw), bias b (F,), output y (N, F, Ho, Wo) with
Ho, Wo from :class:`~backprop_kit.layers.windows.Window`. The forward is

    y[n, f, a, c'] = b[f] + sum_{c, i, j} W[f, c, i, j] * xp[n, c, a*sh + i, c'*sw + j]

where xp is x zero-padded. Written as a matrix product (im2col): gather every window into
a column of ``cols`` (C*kh*kw, N*Ho*Wo), then ``y = W.reshape(F, C*kh*kw) @ cols + b``. The
chain rule through that product gives the whole backward as two more products and a sum:

    dW    = dY @ cols.T          (F, C*kh*kw), with dY = dy as (F, N*Ho*Wo)
    db    = dY summed over its columns (F,)
    dcols = W.reshape(F, -1).T @ dY      (C*kh*kw, N*Ho*Wo)
    dx    = col2im(dcols): each column entry goes back, *added*, to the input entry it was
            copied from (an input entry sits in up to kh*kw windows).

How the code makes this fast (numpy only, no loop over windows):

- im2col and col2im loop over the kh*kw kernel offsets: offset (i, j) of all windows is one
  strided slice of the input (``Window.tap``), so im2col is kh*kw slice copies and col2im
  kh*kw strided in-place adds. No padded copy of x is made: entries of ``cols`` that read
  padding are zeros that stay in the reused buffer.
- ``cols`` is channel-major, (C, kh, kw) by (N, Ho, Wo), with one more row of ones so that
  the bias rides along in the products: ``[W | b] @ [cols; 1] = W @ cols + b``, and
  ``dY @ [cols; 1].T = [dW | db]``.
- dW and db are one large product over all N*Ho*Wo positions. The forward and dcols are one
  product per sample (a single ``np.matmul`` call over a stack of BLAS products), because
  that writes y straight into (N, F, Ho, Wo) order, with no transposing copy of the output.

The naive seven-loop version is in ``naive``.

Public functions (the notebooks call them to compare with their own code):

- ``conv2d_forward(x, W, b, stride=1, padding=0) -> y``
- ``conv2d_backward(dy, x, W, stride=1, padding=0, input_grad=True) -> (dx, dW, db)``
  (dx is None when ``input_grad`` is False)
- ``im2col(x, window) -> cols`` and ``col2im(dcols, x_shape, window) -> dx``

``stride`` and ``padding`` are ints or (height, width) pairs. The :class:`Conv2D` layer runs
the same code but keeps the columns of its forward for its backward and reuses its scratch
buffers from call to call (large fresh arrays cost page faults on every call).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.init import he_normal, xavier_uniform
from backprop_kit.layers._validate import check_dtype, check_float_array, check_shape
from backprop_kit.layers.base import Layer
from backprop_kit.layers.windows import Pair, Window

__all__ = [
    "Conv2D",
    "ConvCache",
    "Workspace",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "im2col",
]


class Workspace:
    """Named scratch buffers, allocated on first use and reused while shape and dtype hold.

    Nothing a caller keeps (an output, a returned gradient) lives here: only intermediate
    arrays that the next call may overwrite.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        *,
        prepare: Callable[[np.ndarray], None] | None = None,
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

        Returns
        -------
        np.ndarray
            Shape ``shape``, C-contiguous.
        """
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            if prepare is None:
                buffer = np.empty(shape, dtype=dtype)
            else:
                buffer = np.zeros(shape, dtype=dtype)
                prepare(buffer)
            self._buffers[name] = buffer
        return buffer


def _set_last_row_to_one(buffer: np.ndarray) -> None:
    buffer[-1] = 1


def _columns(x: np.ndarray, window: Window, workspace: Workspace) -> np.ndarray:
    """im2col with a last row of ones: ``[cols; 1]``, shape (C*kh*kw + 1, N*Ho*Wo).

    The row of ones carries the bias through the same matrix product: ``[W | b] @ [cols; 1]
    = W @ cols + b``. The buffer is zeroed when it is allocated and each call writes only the
    entries that come from x, so the entries that read padding stay zero.
    """
    n, c, h, w = x.shape
    kh, kw = window.kernel
    out = window.output_size(h, w, "im2col")
    rows = c * kh * kw
    columns = workspace.get(
        "cols", (rows + 1, n * out[0] * out[1]), x.dtype, prepare=_set_last_row_to_one
    )
    blocks = columns[:rows].reshape(c, kh, kw, n, *out)
    channels_first = x.transpose(1, 0, 2, 3)  # (C, N, H, W) view, the layout of the blocks
    for i, j in window.offsets():
        (in_rows, in_cols), (out_rows, out_cols) = window.tap(i, j, (h, w), out)
        blocks[:, i, j, :, out_rows, out_cols] = channels_first[:, :, in_rows, in_cols]
    return columns


def im2col(x: np.ndarray, window: Window) -> np.ndarray:
    """Gather every window of x into a column: the im2col matrix, channel-major.

    Parameters
    ----------
    x : np.ndarray
        Shape (N, C, H, W).
    window : Window
        Kernel (kh, kw), stride and padding.

    Returns
    -------
    np.ndarray
        ``cols``, shape (C*kh*kw, N*Ho*Wo): row ``(c*kh + i)*kw + j``, column
        ``(n*Ho + a)*Wo + b`` holds ``xp[n, c, a*sh + i, b*sw + j]`` (xp: x zero-padded).
    """
    return _columns(x, window, Workspace())[:-1]


def _add_columns(blocks: np.ndarray, x_shape: tuple[int, int, int, int], window: Window):
    """col2im on a (C, kh, kw, N, Ho, Wo) view of the column gradients; returns dx."""
    n, c, h, w = x_shape
    out = blocks.shape[4:]
    dx = np.zeros(x_shape, dtype=blocks.dtype)
    channels_first = dx.transpose(1, 0, 2, 3)  # a (C, N, H, W) view of dx
    for i, j in window.offsets():
        (in_rows, in_cols), (out_rows, out_cols) = window.tap(i, j, (h, w), out)
        channels_first[:, :, in_rows, in_cols] += blocks[:, i, j, :, out_rows, out_cols]
    return dx


def col2im(
    dcols: np.ndarray, x_shape: tuple[int, int, int, int], window: Window
) -> np.ndarray:
    """Send the gradient of every column entry back to the input entry it was copied from.

    The adjoint of :func:`im2col`: entries that came from the same input position (windows
    overlap) are summed; entries that came from the padding are dropped.

    Parameters
    ----------
    dcols : np.ndarray
        dL/dcols, shape (C*kh*kw, N*Ho*Wo).
    x_shape : (int, int, int, int)
        (N, C, H, W) of the input.
    window : Window

    Returns
    -------
    np.ndarray
        dL/dx, shape (N, C, H, W), a fresh array.
    """
    n, c, h, w = x_shape
    out = window.output_size(h, w, "col2im")
    return _add_columns(dcols.reshape(c, *window.kernel, n, *out), x_shape, window)


def _forward_from_columns(
    columns: np.ndarray, weights: np.ndarray, bias: np.ndarray, n: int, out: Pair
) -> np.ndarray:
    """y = [W | b] @ [cols; 1], one product per sample, written straight into (N, F, Ho, Wo)."""
    f = weights.shape[0]
    weights_and_bias = np.concatenate([weights.reshape(f, -1), bias[:, None]], axis=1)
    y = np.empty((n, f, out[0] * out[1]), dtype=columns.dtype)
    # Sample n's columns are a (C*kh*kw + 1, Ho*Wo) slice of the buffer; matmul runs one
    # BLAS product per sample and writes each result where (N, F, Ho*Wo) has it.
    per_sample = columns.reshape(len(columns), n, out[0] * out[1]).transpose(1, 0, 2)
    np.matmul(weights_and_bias, per_sample, out=y)
    return y.reshape(n, f, *out)


PER_SAMPLE_WEIGHT_GRAD_POSITIONS = 256
"""Output positions per sample (Ho*Wo) from which dW is computed as one product per sample.

With many positions per sample and few rows C*kh*kw (a first layer), the single product
(F, N*Ho*Wo) @ (N*Ho*Wo, C*kh*kw + 1) has a long inner dimension and a tiny output, a shape
OpenBLAS handles slowly, and it needs dy transposed into a copy; N products of
(F, Ho*Wo) @ (Ho*Wo, C*kh*kw + 1) were up to 2x faster for the benchmark's shapes (a) and (c)
(784 and 1024 positions) and slower below about 200 positions, where the per-call cost of
small products dominates (measured on one core of an AMD EPYC, numpy 2.4 with OpenBLAS 0.3).
"""


def _backward_from_columns(
    dy: np.ndarray,
    columns: np.ndarray,
    weights: np.ndarray,
    x_shape: tuple[int, int, int, int],
    window: Window,
    workspace: Workspace,
    grad_weights: np.ndarray,
    grad_bias: np.ndarray,
    input_grad: bool,
) -> np.ndarray | None:
    """Write dW and db into the given arrays; return dx (None unless input_grad)."""
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
        dy_fm = workspace.get("dy_fm", (f, n, positions), dy.dtype)
        dy_fm[...] = dy.reshape(n, f, positions).transpose(1, 0, 2)
        grads = workspace.get("dW_db", (f, len(columns)), dy.dtype)
        np.matmul(dy_fm.reshape(f, -1), columns.T, out=grads)
    grad_weights.reshape(f, -1)[...] = grads[:, :-1]
    grad_bias[...] = grads[:, -1]
    if not input_grad:
        return None
    # dcols = W.T @ dY, again one product per sample, each into its own (C*kh*kw, Ho*Wo) block.
    dcols = workspace.get("dcols", (n, len(columns) - 1, positions), dy.dtype)
    np.matmul(weights.reshape(f, -1).T, dy.reshape(n, f, positions), out=dcols)
    c = x_shape[1]
    blocks = dcols.reshape(n, c, *window.kernel, *dy.shape[2:]).transpose(1, 2, 3, 0, 4, 5)
    return _add_columns(blocks, x_shape, window)


def _check_conv_inputs(
    x: object, weights: object, bias: object, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check x (N, C, H, W), W (F, C, kh, kw) and b (F,): float arrays of one dtype."""
    weights = check_float_array(weights, "W", where)
    check_shape(weights, ("F", "C", "kh", "kw"), "W", where)
    f, c = weights.shape[:2]
    bias = check_float_array(bias, "b", where)
    check_shape(bias, (f,), "b", where)
    check_dtype(bias, weights.dtype, "b", where)
    x = check_float_array(x, "x", where)
    check_shape(x, ("N", c, "H", "W"), "x", where)
    check_dtype(x, weights.dtype, "x", where)
    return x, weights, bias


def conv2d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int | Pair = 1, padding: int | Pair = 0
) -> np.ndarray:
    """Vectorized 2-D convolution (im2col + one GEMM).

    Parameters
    ----------
    x : np.ndarray
        Input, shape (N, C, H, W), float32 or float64.
    W : np.ndarray
        Weights, shape (F, C, kh, kw), dtype of x.
    b : np.ndarray
        Bias, shape (F,), dtype of x.
    stride, padding : int or (int, int), default 1 and 0
        Window step and zero padding, for (height, width).

    Returns
    -------
    np.ndarray
        y, shape (N, F, Ho, Wo).
    """
    where = "conv2d_forward"
    x, W, b = _check_conv_inputs(x, W, b, where)
    window = Window.from_args(W.shape[2:], stride, padding, where)
    out = window.output_size(*x.shape[2:], where)
    return _forward_from_columns(_columns(x, window, Workspace()), W, b, x.shape[0], out)


def conv2d_backward(
    dy: np.ndarray,
    x: np.ndarray,
    W: np.ndarray,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of a 2-D convolution, from the upstream gradient dy.

    Recomputes im2col(x); the :class:`Conv2D` layer keeps it from its forward instead.

    Parameters
    ----------
    dy : np.ndarray
        dL/dy, shape (N, F, Ho, Wo), dtype of x.
    x : np.ndarray
        The forward's input, shape (N, C, H, W).
    W : np.ndarray
        The forward's weights, shape (F, C, kh, kw).
    stride, padding : int or (int, int)
        As in the forward.
    input_grad : bool, default True
        If False, skip dx (return None for it).

    Returns
    -------
    dx : np.ndarray or None
        Shape (N, C, H, W).
    dW : np.ndarray
        Shape (F, C, kh, kw).
    db : np.ndarray
        Shape (F,).
    """
    where = "conv2d_backward"
    x, W, _ = _check_conv_inputs(x, W, np.zeros(W.shape[0], W.dtype), where)
    window = Window.from_args(W.shape[2:], stride, padding, where)
    out = window.output_size(*x.shape[2:], where)
    check_float_array(dy, "dy", where)
    check_shape(dy, (x.shape[0], W.shape[0], *out), "dy", where)
    check_dtype(dy, W.dtype, "dy", where)
    workspace = Workspace()
    columns = _columns(x, window, workspace)
    dW, db = np.empty_like(W), np.empty(W.shape[0], dtype=W.dtype)
    dx = _backward_from_columns(dy, columns, W, x.shape, window, workspace, dW, db, input_grad)
    return dx, dW, db


@dataclass
class ConvCache:
    """What :class:`Conv2D` keeps between forward and backward.

    Attributes
    ----------
    columns : np.ndarray
        im2col of the input with a row of ones below, shape (C*kh*kw + 1, N*Ho*Wo). A
        scratch buffer of the layer: the next forward overwrites it.
    x_shape : (int, int, int, int)
        (N, C, H, W) of the input.
    """

    columns: np.ndarray
    x_shape: tuple[int, int, int, int]


_INITS = ("he", "xavier")


def _initial_weights(
    init: str, shape: tuple[int, int, int, int], rng: np.random.Generator, dtype: DTypeLike
) -> np.ndarray:
    """He normal (fan_in = C*kh*kw) or Xavier uniform (fan_out = F*kh*kw) conv weights."""
    f, c, kh, kw = shape
    if init == "he":
        return he_normal(shape, rng, fan_in=c * kh * kw, dtype=dtype)
    return xavier_uniform(shape, rng, fan_in=c * kh * kw, fan_out=f * kh * kw, dtype=dtype)


def _check_channels(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"Conv2D: {name} must be a positive integer, got {value!r}")
    return int(value)


class Conv2D(Layer):
    """2-D convolution layer on NCHW batches, with bias.

    forward:  x (N, C, H, W) -> y (N, F, Ho, Wo),
              y[n, f] = b[f] + sum_c cross-correlation of xp[n, c] with W[f, c]
    backward: dy (N, F, Ho, Wo) -> dx (N, C, H, W) (None if ``input_grad`` is False),
              and fills grads: dW (F, C, kh, kw), db (F,)

    With cols = im2col(x) (C*kh*kw, N*Ho*Wo) the forward is y = W @ cols + b, so dW =
    dY @ cols.T, db = dY summed over positions, dcols = W.T @ dY and dx = col2im(dcols); see
    the module docstring. Ho = (H + 2*ph - kh) / sh + 1 must be an integer (same for Wo).

    Parameters
    ----------
    in_channels, out_channels : int
        C and F.
    kernel_size : int or (int, int)
        (kh, kw).
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros added on each side.
    rng : np.random.Generator
        Draws the initial weights.
    init : {"he", "xavier"}, default "he"
        ``"he"``: N(0, 2 / fan_in), fan_in = C*kh*kw (He et al. 2015); ``"xavier"``:
        U(-a, a) with variance 2 / (fan_in + fan_out), fan_out = F*kh*kw (Glorot & Bengio
        2010). The bias starts at zero.
    dtype : float dtype, default float64
        Dtype of W and b; inputs must have the same dtype.
    input_grad : bool, default True
        If False, backward skips dx and returns None (for a first layer fed with data).

    Attributes
    ----------
    params : dict
        ``"W"`` (F, C, kh, kw) and ``"b"`` (F,).
    grads : dict
        Same keys and shapes, overwritten by each backward.
    window : Window
        Kernel, stride and padding as (height, width) pairs.
    cache : ConvCache
        The input's im2col matrix (with the row of ones for the bias) and shape, from the
        last forward.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair,
        *,
        stride: int | Pair = 1,
        padding: int | Pair = 0,
        rng: np.random.Generator,
        init: str = "he",
        dtype: DTypeLike = np.float64,
        input_grad: bool = True,
    ) -> None:
        self.in_channels = _check_channels(in_channels, "in_channels")
        self.out_channels = _check_channels(out_channels, "out_channels")
        self.window = Window.from_args(kernel_size, stride, padding, "Conv2D")
        if init not in _INITS:
            raise ValueError(f"Conv2D: init must be one of {sorted(_INITS)}, got {init!r}")
        shape = (self.out_channels, self.in_channels, *self.window.kernel)
        weights = _initial_weights(init, shape, rng, dtype)
        super().__init__(W=weights, b=np.zeros(self.out_channels, dtype=weights.dtype))
        self.input_grad = input_grad
        self._workspace = Workspace()

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Convolve the batch.

        Parameters
        ----------
        x : np.ndarray
            Shape (N, in_channels, H, W), dtype of the parameters.

        Returns
        -------
        np.ndarray
            Shape (N, out_channels, Ho, Wo).
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        check_shape(x, ("N", self.in_channels, "H", "W"), "x", where)
        check_dtype(x, self.params["W"].dtype, "x", where)
        out = self.window.output_size(*x.shape[2:], where)
        columns = _columns(x, self.window, self._workspace)
        self.cache = ConvCache(columns=columns, x_shape=x.shape)
        return _forward_from_columns(
            columns, self.params["W"], self.params["b"], x.shape[0], out
        )

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Fill ``grads`` with dW, db and return dx (None if ``input_grad`` is False).

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, out_channels, Ho, Wo).

        Returns
        -------
        np.ndarray or None
            dL/dx, shape (N, in_channels, H, W).
        """
        cache = self._cached()
        where = f"{self!r}.backward"
        n, _, h, w = cache.x_shape
        check_float_array(dy, "dy", where)
        check_shape(dy, (n, self.out_channels, *self.window.output_size(h, w, where)), "dy", where)
        check_dtype(dy, self.params["W"].dtype, "dy", where)
        return _backward_from_columns(
            dy,
            cache.columns,
            self.params["W"],
            cache.x_shape,
            self.window,
            self._workspace,
            self.grads["W"],
            self.grads["b"],
            self.input_grad,
        )

    def __repr__(self) -> str:
        return f"Conv2D({self.in_channels} -> {self.out_channels}, {self.window})"
