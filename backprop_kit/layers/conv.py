"""2-D convolution (cross-correlation, as in every deep-learning library), NCHW, vectorized.

Shapes: x (N, C, H, W), weights W (F, C, kh, kw), bias b (F,), output y (N, F, Ho, Wo) with
Ho, Wo from :class:`~backprop_kit.layers.windows.Window`. The forward is

    y[n, f, a, c'] = b[f] + sum_{c, i, j} W[f, c, i, j] * xp[n, c, a*sh + i, c'*sw + j]

where xp is x zero-padded (``np.pad``). Written as one matrix product (im2col): gather every
window into a column of ``cols`` (C*kh*kw, N*Ho*Wo), then ``y = W.reshape(F, -1) @ cols + b``.
The chain rule through that product gives the whole backward as two more products and a sum:

    dW    = dY @ cols.T          (F, C*kh*kw), with dY = dy as (F, N*Ho*Wo)
    db    = dY summed over its columns (F,)
    dcols = W.reshape(F, -1).T @ dY      (C*kh*kw, N*Ho*Wo)
    dx    = col2im(dcols): each column entry goes back, *added*, to the input entry it was
            copied from (an input entry sits in up to kh*kw windows).

Gathering the windows loops over the kh*kw kernel offsets, not over windows: offset (i, j) of
every window is one strided slice of xp (``Window.slices``). Start from ``naive`` (seven
loops) and read this file next. :class:`Conv2D` runs the tuned kernels of
``backprop_kit.fast.conv`` by default (same numbers); ``fast=False`` runs the functions here:
``conv2d_forward``, ``conv2d_backward``, ``im2col`` and ``col2im`` (the notebooks compare
their own code with them). Strides and paddings are ints or (height, width) pairs; x, W and
b share one dtype, and dy is taken in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.fast.conv import FastConv
from backprop_kit.init import he_normal, xavier_uniform
from backprop_kit.layers._validate import (
    check_dtype,
    check_float_array,
    check_positive_int,
    check_upstream,
    require_shape,
)
from backprop_kit.layers.base import Layer
from backprop_kit.layers.windows import Pair, Window

__all__ = ["Conv2D", "ConvCache", "col2im", "conv2d_backward", "conv2d_forward", "im2col"]


def im2col(x: np.ndarray, window: Window) -> np.ndarray:
    """Gather every window of the zero-padded x into a column: the im2col matrix.

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
    n, c, h, w = x.shape
    (ph, pw), out = window.padding, window.output_size(h, w, "im2col")
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((c, *window.kernel, n, *out), dtype=x.dtype)
    for i, j in window.offsets():
        rows, columns = window.slices(i, j, out)
        cols[:, i, j] = xp[:, :, rows, columns].transpose(1, 0, 2, 3)  # (C, N, Ho, Wo)
    return cols.reshape(c * window.kernel[0] * window.kernel[1], n * out[0] * out[1])


def col2im(dcols: np.ndarray, x_shape: tuple[int, int, int, int], window: Window) -> np.ndarray:
    """Send the gradient of every column entry back to the input entry it was copied from.

    The transpose of :func:`im2col`: entries copied from the same input position (windows
    overlap) are added; entries that came from the padding are dropped.

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
    (ph, pw), out = window.padding, window.output_size(h, w, "col2im")
    blocks = dcols.reshape(c, *window.kernel, n, *out)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dcols.dtype)
    for i, j in window.offsets():
        rows, columns = window.slices(i, j, out)
        dxp[:, :, rows, columns] += blocks[:, i, j].transpose(1, 0, 2, 3)  # (N, C, Ho, Wo)
    return dxp[:, :, ph : ph + h, pw : pw + w].copy()


def _forward(cols: np.ndarray, W: np.ndarray, b: np.ndarray, n: int, out: Pair) -> np.ndarray:
    """y (N, F, Ho, Wo) = W @ cols + b, from cols (C*kh*kw, N*Ho*Wo)."""
    f = W.shape[0]
    y = W.reshape(f, -1) @ cols + b[:, None]  # (F, N*Ho*Wo)
    return y.reshape(f, n, *out).transpose(1, 0, 2, 3)


def _backward(
    dy: np.ndarray, cols: np.ndarray, x_shape: tuple, W: np.ndarray, window: Window,
    input_grad: bool,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dx or None, dW, db) from dy (N, F, Ho, Wo) and the forward's cols."""
    f = W.shape[0]
    dY = dy.transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*Ho*Wo), the layout of y's product
    dW = (dY @ cols.T).reshape(W.shape)
    db = dY.sum(axis=1)
    dx = col2im(W.reshape(f, -1).T @ dY, x_shape, window) if input_grad else None
    return dx, dW, db


def _check_conv_inputs(x: object, W: object, b: object, where: str) -> tuple:
    """Check x (N, C, H, W), W (F, C, kh, kw) and b (F,): float arrays of one dtype."""
    W = check_float_array(W, "W", where)
    require_shape(W, ("F", "C", "kh", "kw"), "W", where)
    b = check_float_array(b, "b", where)
    require_shape(b, (W.shape[0],), "b", where)
    check_dtype(b, W.dtype, "b", where)
    x = check_float_array(x, "x", where)
    require_shape(x, ("N", W.shape[1], "H", "W"), "x", where)
    check_dtype(x, W.dtype, "x", where)
    return x, W, b


def conv2d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int | Pair = 1, padding: int | Pair = 0
) -> np.ndarray:
    """Vectorized 2-D convolution (im2col + one matrix product).

    Parameters
    ----------
    x, W, b : np.ndarray
        Input (N, C, H, W), weights (F, C, kh, kw) and bias (F,), float, of one dtype.
    stride, padding : int or (int, int), default 1 and 0
        Window step and zero padding, for (height, width).

    Returns
    -------
    np.ndarray
        y, shape (N, F, Ho, Wo).
    """
    x, W, b = _check_conv_inputs(x, W, b, "conv2d_forward")
    window = Window.from_args(W.shape[2:], stride, padding, "conv2d_forward")
    out = window.output_size(*x.shape[2:], "conv2d_forward")
    return _forward(im2col(x, window), W, b, x.shape[0], out)


def conv2d_backward(
    dy: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int | Pair = 1,
    padding: int | Pair = 0, input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of a 2-D convolution from the upstream gradient dy (recomputes im2col(x)).

    Parameters
    ----------
    dy, x, W : np.ndarray
        dL/dy (N, F, Ho, Wo), taken in the dtype of x; the forward's input (N, C, H, W) and
        weights (F, C, kh, kw).
    stride, padding : int or (int, int)
        As in the forward.
    input_grad : bool, default True
        If False, skip dx (return None for it).

    Returns
    -------
    dx, dW, db : np.ndarray
        Shapes (N, C, H, W) (None if not ``input_grad``), (F, C, kh, kw) and (F,).
    """
    where = "conv2d_backward"
    x, W, _ = _check_conv_inputs(x, W, np.zeros(W.shape[0], W.dtype), where)
    window = Window.from_args(W.shape[2:], stride, padding, where)
    out = window.output_size(*x.shape[2:], where)
    dy = check_upstream(dy, (x.shape[0], W.shape[0], *out), W.dtype, "dy", where)
    return _backward(dy, im2col(x, window), x.shape, W, window, input_grad)


@dataclass
class ConvCache:
    """What :class:`Conv2D` keeps between forward and backward.

    Attributes
    ----------
    cols : np.ndarray
        im2col of the input, (C*kh*kw, N*Ho*Wo). With ``fast=True`` it is the fast kernels'
        scratch buffer ``[cols; 1]`` (one more row, of ones, for the bias), which the next
        forward overwrites.
    x_shape : (int, int, int, int)
        (N, C, H, W) of the input.
    """

    cols: np.ndarray
    x_shape: tuple[int, int, int, int]


_INITS = ("he", "xavier")


class Conv2D(Layer):
    """2-D convolution layer on NCHW batches, with bias.

    forward:  x (N, C, H, W) -> y (N, F, Ho, Wo), y = W @ im2col(x) + b
    backward: dy (N, F, Ho, Wo) -> dx (N, C, H, W) (None if ``input_grad`` is False),
              and fills grads: dW (F, C, kh, kw), db (F,)

    Ho = (H + 2*ph - kh) / sh + 1 must be an integer (same for Wo). x must have the parameters'
    dtype and dy is taken in it, so dx has the dtype of x, and dW, db those of W, b.

    Parameters
    ----------
    in_channels, out_channels : int
        C and F.
    kernel_size, stride, padding : int or (int, int)
        (kh, kw); step between windows (default 1); zeros added on each side (default 0).
    rng : np.random.Generator
        Draws the initial weights.
    init : {"he", "xavier"}, default "he"
        ``"he"``: N(0, 2 / fan_in), fan_in = C*kh*kw (He et al. 2015); ``"xavier"``:
        U(-a, a) with variance 2 / (fan_in + fan_out), fan_out = F*kh*kw (Glorot & Bengio
        2010). The bias starts at zero.
    dtype : float dtype, default float64
        Dtype of W and b, and of the inputs.
    input_grad : bool, default True
        If False, backward skips dx and returns None (for a first layer fed with data).
    fast : bool, default True
        Run the tuned kernels of ``backprop_kit.fast.conv`` (same numbers); False runs
        :func:`im2col` and the products of this module.

    Attributes
    ----------
    params, grads : dict
        ``"W"`` (F, C, kh, kw) and ``"b"`` (F,); grads are overwritten by each backward.
    window : Window
        Kernel, stride and padding as (height, width) pairs.
    cache : ConvCache
        The input's im2col matrix and shape, from the last forward.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | Pair, *,
        stride: int | Pair = 1, padding: int | Pair = 0, rng: np.random.Generator,
        init: str = "he", dtype: DTypeLike = np.float64, input_grad: bool = True,
        fast: bool = True,
    ) -> None:
        self.in_channels = check_positive_int(in_channels, "in_channels", "Conv2D")
        self.out_channels = check_positive_int(out_channels, "out_channels", "Conv2D")
        self.window = Window.from_args(kernel_size, stride, padding, "Conv2D")
        if init not in _INITS:
            raise ValueError(f"Conv2D: init must be one of {sorted(_INITS)}, got {init!r}")
        f, c, (kh, kw) = self.out_channels, self.in_channels, self.window.kernel
        if init == "he":
            weights = he_normal((f, c, kh, kw), rng, fan_in=c * kh * kw, dtype=dtype)
        else:
            weights = xavier_uniform(
                (f, c, kh, kw), rng, fan_in=c * kh * kw, fan_out=f * kh * kw, dtype=dtype
            )
        super().__init__(W=weights, b=np.zeros(f, dtype=weights.dtype))
        self.input_grad = input_grad
        self._fast = FastConv(self.window) if fast else None

    @property
    def fast(self) -> bool:
        """Whether the layer runs the tuned kernels (set by the constructor)."""
        return self._fast is not None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Convolve the batch x (N, in_channels, H, W); returns y (N, out_channels, Ho, Wo)."""
        where = f"{self!r}.forward"
        x, W, b = _check_conv_inputs(x, self.params["W"], self.params["b"], where)
        out = self.window.output_size(*x.shape[2:], where)
        if self._fast is not None:
            y, cols = self._fast.forward(x, W, b)
        else:
            cols = im2col(x, self.window)
            y = _forward(cols, W, b, x.shape[0], out)
        self.cache = ConvCache(cols=cols, x_shape=x.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Fill ``grads`` with dW, db; return dx (N, in_channels, H, W) or None.

        dy is dL/dy, shape (N, out_channels, Ho, Wo), taken in the parameters' dtype.
        """
        cache = self._cached()
        where = f"{self!r}.backward"
        n, _, h, w = cache.x_shape
        out = self.window.output_size(h, w, where)
        W = self.params["W"]
        dy = check_upstream(dy, (n, self.out_channels, *out), W.dtype, "dy", where)
        if self._fast is not None:
            return self._fast.backward(
                dy, cache.cols, cache.x_shape, W, self.grads["W"], self.grads["b"],
                self.input_grad,
            )
        dx, dW, db = _backward(dy, cache.cols, cache.x_shape, W, self.window, self.input_grad)
        self.grads["W"][...] = dW
        self.grads["b"][...] = db
        return dx

    def __repr__(self) -> str:
        return f"Conv2D({self.in_channels} -> {self.out_channels}, {self.window})"
