"""Start here: convolution and pooling as naive loops, the definitions written out entry by entry.

They are slow on purpose (plain Python loops over every index, hundreds to thousands of
times slower than ``conv`` and ``pooling``) and serve two jobs: a student can read each
formula straight off the loops, and the tests use them as oracles for the vectorized code.
The backward loops run the forward's loops once more and, at every multiply-add of the
forward, add the chain rule's share to each gradient: an entry that was used k times
collects k contributions. Read ``conv.py`` and ``pooling.py`` next (the same, vectorized
over windows); ``backprop_kit.fast`` holds the tuned kernels the layers run by default.

Signatures (x (N, C, H, W); W (F, C, kh, kw); b (F,); stride, padding and kernel_size are
ints or (height, width) pairs; the pooling stride defaults to the kernel size):

- ``conv2d_forward_loops(x, W, b, stride=1, padding=0) -> y`` (N, F, Ho, Wo)
- ``conv2d_backward_loops(dy, x, W, stride=1, padding=0) -> (dx, dW, db)``
- ``maxpool2d_forward_loops(x, kernel_size=2, stride=None) -> y`` (N, C, Ho, Wo)
- ``maxpool2d_backward_loops(dy, x, kernel_size=2, stride=None) -> dx``
- ``avgpool2d_forward_loops(x, kernel_size=2, stride=None) -> y``
- ``avgpool2d_backward_loops(dy, x_shape, kernel_size=2, stride=None) -> dx``

Shapes are checked only as far as the window geometry goes (``windows.Window``): these are
references, the layers do the full input checking.
"""

from __future__ import annotations

import numpy as np

from backprop_kit.layers.pooling import pool_window
from backprop_kit.layers.windows import Pair, Window

__all__ = [
    "avgpool2d_backward_loops",
    "avgpool2d_forward_loops",
    "conv2d_backward_loops",
    "conv2d_forward_loops",
    "maxpool2d_backward_loops",
    "maxpool2d_forward_loops",
]


def _padded(x: np.ndarray, padding: Pair) -> np.ndarray:
    """x with ``padding`` zeros added on both sides of the height and of the width."""
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d_forward_loops(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int | Pair = 1, padding: int | Pair = 0
) -> np.ndarray:
    """Convolution by seven nested loops: ``y[n,f,a,c] = b[f] + sum W[f,ch,i,j] xp[...]``.

    Parameters
    ----------
    x : np.ndarray
        Shape (N, C, H, W).
    W : np.ndarray
        Shape (F, C, kh, kw).
    b : np.ndarray
        Shape (F,).
    stride, padding : int or (int, int), default 1 and 0

    Returns
    -------
    np.ndarray
        y, shape (N, F, Ho, Wo), dtype of x.
    """
    n_batch, channels, height, width = x.shape
    filters, _, kh, kw = W.shape
    window = Window.from_args((kh, kw), stride, padding, "conv2d_forward_loops")
    out_h, out_w = window.output_size(height, width, "conv2d_forward_loops")
    sh, sw = window.stride
    xp = _padded(x, window.padding)
    y = np.zeros((n_batch, filters, out_h, out_w), dtype=x.dtype)
    for n in range(n_batch):
        for f in range(filters):
            for a in range(out_h):
                for c in range(out_w):
                    total = b[f]
                    for ch in range(channels):
                        for i in range(kh):
                            for j in range(kw):
                                total += W[f, ch, i, j] * xp[n, ch, a * sh + i, c * sw + j]
                    y[n, f, a, c] = total
    return y


def conv2d_backward_loops(
    dy: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int | Pair = 1, padding: int | Pair = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the convolution, accumulated term by term in the forward's loops.

    Each forward term ``W[f,ch,i,j] * xp[n,ch,a*sh+i,c*sw+j]`` of ``y[n,f,a,c]`` sends
    ``dy[n,f,a,c] * xp[...]`` to ``dW[f,ch,i,j]`` and ``dy[n,f,a,c] * W[f,ch,i,j]`` to
    ``dxp[...]``; the bias sends ``dy[n,f,a,c]`` to ``db[f]``. dx is dxp without its border.

    Parameters
    ----------
    dy : np.ndarray
        Shape (N, F, Ho, Wo).
    x : np.ndarray
        Shape (N, C, H, W).
    W : np.ndarray
        Shape (F, C, kh, kw).
    stride, padding : int or (int, int), default 1 and 0

    Returns
    -------
    dx : np.ndarray
        Shape (N, C, H, W).
    dW : np.ndarray
        Shape (F, C, kh, kw).
    db : np.ndarray
        Shape (F,).
    """
    n_batch, channels, height, width = x.shape
    filters, _, kh, kw = W.shape
    window = Window.from_args((kh, kw), stride, padding, "conv2d_backward_loops")
    out_h, out_w = window.output_size(height, width, "conv2d_backward_loops")
    (sh, sw), (ph, pw) = window.stride, window.padding
    xp = _padded(x, window.padding)
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    db = np.zeros(filters, dtype=W.dtype)
    for n in range(n_batch):
        for f in range(filters):
            for a in range(out_h):
                for c in range(out_w):
                    g = dy[n, f, a, c]
                    db[f] += g
                    for ch in range(channels):
                        for i in range(kh):
                            for j in range(kw):
                                dW[f, ch, i, j] += g * xp[n, ch, a * sh + i, c * sw + j]
                                dxp[n, ch, a * sh + i, c * sw + j] += g * W[f, ch, i, j]
    dx = dxp[:, :, ph : ph + height, pw : pw + width].copy()
    return dx, dW, db


def _pool_geometry(
    x_shape: tuple[int, ...], kernel_size: int | Pair, stride: int | Pair | None, where: str
) -> tuple[Window, tuple[int, int, int, int]]:
    """The pooling window and the output shape (N, C, Ho, Wo) for an input of ``x_shape``."""
    window = pool_window(kernel_size, stride, where)
    return window, (x_shape[0], x_shape[1], *window.output_size(*x_shape[2:], where))


def _first_max(
    x: np.ndarray, n: int, ch: int, a: int, c: int, window: Window
) -> tuple[int, int]:
    """(row, col) in x of the first largest entry of window (a, c), scanning row by row."""
    (kh, kw), (sh, sw) = window.kernel, window.stride
    best = (a * sh, c * sw)
    for i in range(kh):
        for j in range(kw):
            if x[n, ch, a * sh + i, c * sw + j] > x[n, ch, best[0], best[1]]:
                best = (a * sh + i, c * sw + j)  # strictly larger: a tie keeps the first
    return best


def maxpool2d_forward_loops(
    x: np.ndarray, kernel_size: int | Pair = 2, stride: int | Pair | None = None
) -> np.ndarray:
    """Max pooling by loops: the largest entry of each window.

    Parameters
    ----------
    x : np.ndarray
        Shape (N, C, H, W).
    kernel_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Default: the kernel size.

    Returns
    -------
    np.ndarray
        y, shape (N, C, Ho, Wo).
    """
    window, y_shape = _pool_geometry(x.shape, kernel_size, stride, "maxpool2d_forward_loops")
    y = np.zeros(y_shape, dtype=x.dtype)
    for n, ch, a, c in np.ndindex(y_shape):  # every output entry, one at a time
        row, col = _first_max(x, n, ch, a, c, window)
        y[n, ch, a, c] = x[n, ch, row, col]
    return y


def maxpool2d_backward_loops(
    dy: np.ndarray, x: np.ndarray, kernel_size: int | Pair = 2, stride: int | Pair | None = None
) -> np.ndarray:
    """Max pooling gradient by loops: each window's dy goes to its first maximum only.

    Parameters
    ----------
    dy : np.ndarray
        Shape (N, C, Ho, Wo).
    x : np.ndarray
        The forward's input, shape (N, C, H, W).
    kernel_size, stride
        As in the forward.

    Returns
    -------
    np.ndarray
        dx, shape (N, C, H, W), dtype of x; overlapping windows add their shares.
    """
    window, y_shape = _pool_geometry(x.shape, kernel_size, stride, "maxpool2d_backward_loops")
    dx = np.zeros(x.shape, dtype=x.dtype)
    for n, ch, a, c in np.ndindex(y_shape):
        row, col = _first_max(x, n, ch, a, c, window)
        dx[n, ch, row, col] += dy[n, ch, a, c]
    return dx


def avgpool2d_forward_loops(
    x: np.ndarray, kernel_size: int | Pair = 2, stride: int | Pair | None = None
) -> np.ndarray:
    """Average pooling by loops: the mean of each window (arguments as for max pooling).

    Returns
    -------
    np.ndarray
        y, shape (N, C, Ho, Wo).
    """
    window, y_shape = _pool_geometry(x.shape, kernel_size, stride, "avgpool2d_forward_loops")
    (kh, kw), (sh, sw) = window.kernel, window.stride
    y = np.zeros(y_shape, dtype=x.dtype)
    for n, ch, a, c in np.ndindex(y_shape):
        total = 0.0
        for i in range(kh):
            for j in range(kw):
                total += x[n, ch, a * sh + i, c * sw + j]
        y[n, ch, a, c] = total / (kh * kw)
    return y


def avgpool2d_backward_loops(
    dy: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: int | Pair = 2,
    stride: int | Pair | None = None,
) -> np.ndarray:
    """Average pooling gradient by loops: each entry of a window gets dy / (kh*kw).

    Parameters
    ----------
    dy : np.ndarray
        Shape (N, C, Ho, Wo).
    x_shape : (int, int, int, int)
        (N, C, H, W) of the forward's input: the mean needs nothing else from it.
    kernel_size, stride
        As in the forward.

    Returns
    -------
    np.ndarray
        dx, shape ``x_shape``, dtype of dy.
    """
    window, y_shape = _pool_geometry(x_shape, kernel_size, stride, "avgpool2d_backward_loops")
    (kh, kw), (sh, sw) = window.kernel, window.stride
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for n, ch, a, c in np.ndindex(y_shape):
        for i in range(kh):
            for j in range(kw):
                dx[n, ch, a * sh + i, c * sw + j] += dy[n, ch, a, c] / (kh * kw)
    return dx
