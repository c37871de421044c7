"""Max and average pooling over (N, C, H, W) batches, vectorized over the windows.

A pooling window of ``kh x kw`` slides with ``stride`` (default: the kernel size, so the
windows tile the input) over each channel separately; there is no padding.

Both poolings first gather the windows, looping over the kh*kw kernel offsets rather than over
windows: offset (i, j) of every window is one strided slice of x (``Window.slices``), an
(N, C, Ho, Wo) view, and stacking the slices gives ``windows`` (N, C, Ho, Wo, kh*kw), each
window's entries in row-major order. (Where the windows tile x, that is x reshaped to
(N, C, Ho, kh, Wo, kw) with the two kernel axes moved last.) Then:

- max pool: ``y = windows.max(-1)``. The backward sends each window's dy to the FIRST
  position (row-major) holding its maximum, and only there: ``windows.argmax(-1)`` is that
  position (argmax returns the first of tied maxima). Ties are common: after a ReLU, a window
  of zeros has all its entries equal. Sending dy to every tied entry would multiply the
  gradient by the number of ties; the first-max rule is one valid subgradient, and what
  PyTorch does. The backward visits the offsets again and adds dy to slice k of dx where
  the argmax is k;
- average pool: ``y = windows.mean(-1)``; the backward adds dy / (kh*kw) to every slice.

Where windows overlap (stride < kernel), slices share entries and ``+=`` adds their shares.
Start from ``naive`` (one window at a time) and read this file next. The layers run the tuned
kernels of ``backprop_kit.fast.pooling`` by default (same numbers); ``fast=False`` runs the
functions below. dx has the dtype of x (dy is converted to it).

Public functions (the notebooks call them to compare with their own code):

- ``maxpool2d_forward(x, kernel_size=2, stride=None) -> y``
- ``maxpool2d_backward(dy, x, kernel_size=2, stride=None) -> dx``
- ``avgpool2d_forward(x, kernel_size=2, stride=None) -> y``
- ``avgpool2d_backward(dy, x_shape, kernel_size=2, stride=None) -> dx`` (dtype of dy)

``kernel_size`` and ``stride`` are ints or (height, width) pairs; ``stride=None`` means the
kernel size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.fast import pooling as fast_pooling
from backprop_kit.layers._validate import check_float_array, check_upstream, require_shape
from backprop_kit.layers.base import Layer
from backprop_kit.layers.windows import Pair, Window

__all__ = [
    "AvgPool2D",
    "MaxPool2D",
    "PoolCache",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "pool_window",
]


def pool_window(kernel_size: int | Pair, stride: int | Pair | None, where: str) -> Window:
    """The window of a pooling layer: no padding, stride defaulting to the kernel size.

    ``stride=None`` means ``kernel_size``; ``where`` names the caller in error messages.
    """
    return Window.from_args(kernel_size, kernel_size if stride is None else stride, 0, where)


def _checked_input(
    x: object, kernel_size: int | Pair, stride: int | Pair | None, where: str
) -> tuple[np.ndarray, Window]:
    """Check x (N, C, H, W) and the window that must fit it; return both."""
    x = check_float_array(x, "x", where)
    require_shape(x, ("N", "C", "H", "W"), "x", where)
    window = pool_window(kernel_size, stride, where)
    window.output_size(*x.shape[2:], where)
    return x, window


def _checked_dy(
    dy: object, x_shape: tuple, dtype: np.dtype | None, window: Window, where: str
) -> np.ndarray:
    """Check dy (N, C, Ho, Wo) for an input of shape ``x_shape``; return it in ``dtype``
    (the dtype of x, which dx gets), or as it is when ``dtype`` is None."""
    out = window.output_size(*x_shape[2:], where)
    if dtype is None:
        dtype = check_float_array(dy, "dy", where).dtype
    return check_upstream(dy, (*x_shape[:2], *out), dtype, "dy", where)


def _offset_slices(window: Window, x_shape: tuple) -> list[tuple[slice, slice]]:
    """Kernel offset k = i*kw + j of every window, as (rows, cols) slices of x."""
    out = window.output_size(*x_shape[2:], "pooling")
    return [window.slices(i, j, out) for i, j in window.offsets()]


def _windows(x: np.ndarray, window: Window) -> np.ndarray:
    """Every window of x (N, C, H, W), gathered: (N, C, Ho, Wo, kh*kw), row-major entries."""
    return np.stack([x[:, :, rows, cols] for rows, cols in _offset_slices(window, x.shape)], -1)


def _route(dy: np.ndarray, argmax: np.ndarray, x_shape: tuple, window: Window) -> np.ndarray:
    """Max pool backward: dy (N, C, Ho, Wo) to the entry ``argmax`` of its window; dx."""
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for k, (rows, cols) in enumerate(_offset_slices(window, x_shape)):
        dx[:, :, rows, cols] += np.where(argmax == k, dy, 0)
    return dx


def _spread(dy: np.ndarray, x_shape: tuple, window: Window) -> np.ndarray:
    """Average pool backward: dy (N, C, Ho, Wo) / (kh*kw) to every entry of its window; dx."""
    dx = np.zeros(x_shape, dtype=dy.dtype)
    share = dy / (window.kernel[0] * window.kernel[1])
    for rows, cols in _offset_slices(window, x_shape):
        dx[:, :, rows, cols] += share
    return dx


def maxpool2d_forward(
    x: np.ndarray, kernel_size: int | Pair = 2, stride: int | Pair | None = None
) -> np.ndarray:
    """Max pooling: y (N, C, Ho, Wo), the largest entry of every window of x (N, C, H, W)."""
    x, window = _checked_input(x, kernel_size, stride, "maxpool2d_forward")
    return _windows(x, window).max(axis=-1)


def maxpool2d_backward(
    dy: np.ndarray, x: np.ndarray, kernel_size: int | Pair = 2, stride: int | Pair | None = None
) -> np.ndarray:
    """Gradient of max pooling: dx (N, C, H, W), each window's dy at its first maximum.

    dy is dL/dy (N, C, Ho, Wo); x is the forward's input (N, C, H, W), whose dtype dx has;
    kernel_size and stride are as in the forward.
    """
    where = "maxpool2d_backward"
    x, window = _checked_input(x, kernel_size, stride, where)
    dy = _checked_dy(dy, x.shape, x.dtype, window, where)
    return _route(dy, _windows(x, window).argmax(axis=-1), x.shape, window)


def avgpool2d_forward(
    x: np.ndarray, kernel_size: int | Pair = 2, stride: int | Pair | None = None
) -> np.ndarray:
    """Average pooling: y (N, C, Ho, Wo), the mean of every window of x (N, C, H, W)."""
    x, window = _checked_input(x, kernel_size, stride, "avgpool2d_forward")
    return _windows(x, window).mean(axis=-1)


def avgpool2d_backward(
    dy: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: int | Pair = 2,
    stride: int | Pair | None = None,
) -> np.ndarray:
    """Gradient of average pooling: dx (``x_shape``), dy / (kh*kw) on every window entry.

    dy is dL/dy (N, C, Ho, Wo); x_shape is (N, C, H, W) of the forward's input.
    """
    where = "avgpool2d_backward"
    window = pool_window(kernel_size, stride, where)
    return _spread(_checked_dy(dy, tuple(x_shape), None, window, where), tuple(x_shape), window)


@dataclass
class PoolCache:
    """What a pooling layer keeps between forward and backward.

    Attributes
    ----------
    x_shape : (int, int, int, int)
        (N, C, H, W) of the input.
    dtype : np.dtype
        The input's dtype, which dx gets.
    routing : np.ndarray or fast.pooling.MaxRouting or None
        Max pooling: where each window's first maximum is, as ``argmax`` (N, C, Ho, Wo)
        into the window's entries, or with ``fast=True`` the fast kernels' routing; None for
        average pooling.
    """

    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    routing: np.ndarray | fast_pooling.MaxRouting | None = None


class _Pool2D(Layer):
    """The window, checks and caching that max and average pooling share.

    forward:  x (N, C, H, W) -> y (N, C, Ho, Wo); backward: dy (N, C, Ho, Wo) ->
    dx (N, C, H, W), dtype of x. Ho = (H - kh) / sh + 1 must be an integer, and likewise Wo.

    Parameters
    ----------
    kernel_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Default: the kernel size (windows that tile the input).
    fast : bool, default True
        Run the tuned kernels of ``backprop_kit.fast.pooling`` (same numbers).

    Attributes
    ----------
    window : Window
    cache : PoolCache
    """

    def __init__(
        self, kernel_size: int | Pair = 2, stride: int | Pair | None = None, *, fast: bool = True
    ) -> None:
        super().__init__()
        self.window = pool_window(kernel_size, stride, type(self).__name__)
        self._fast = fast

    @property
    def fast(self) -> bool:
        """Whether the layer runs the tuned kernels (set by the constructor)."""
        return self._fast

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Pool every window of x (N, C, H, W); returns y (N, C, Ho, Wo)."""
        self.cache = None  # drop the last forward's arrays now, so numpy can reuse their memory
        x, _ = _checked_input(x, self.window.kernel, self.window.stride, f"{self!r}.forward")
        y, routing = self._pool(x)
        self.cache = PoolCache(x_shape=x.shape, dtype=x.dtype, routing=routing)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return dx (N, C, H, W) in the dtype of x, from dy (N, C, Ho, Wo)."""
        cache = self._cached()
        dy = _checked_dy(dy, cache.x_shape, cache.dtype, self.window, f"{self!r}.backward")
        return self._unpool(dy, cache)

    def _pool(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        raise NotImplementedError

    def _unpool(self, dy: np.ndarray, cache: PoolCache) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.window})"


class MaxPool2D(_Pool2D):
    """Max pooling over each channel's height and width (see :class:`_Pool2D`).

    y is the maximum of each window; dx is zero except at each window's first maximum
    (row-major within the window), which receives the window's dy (summed where windows
    overlap). With ``fast=True`` and 2x2/2 windows in training mode the forward finds those
    positions, so the cache holds an index instead of x (see ``fast.pooling.max_pool``).
    """

    def _pool(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        if self._fast:
            return fast_pooling.max_pool(x, self.window, self.training)
        windows = _windows(x, self.window)
        return windows.max(axis=-1), windows.argmax(axis=-1)

    def _unpool(self, dy: np.ndarray, cache: PoolCache) -> np.ndarray:
        if self._fast:
            return fast_pooling.max_pool_backward(dy, cache.routing, self.window)
        return _route(dy, cache.routing, cache.x_shape, self.window)


class AvgPool2D(_Pool2D):
    """Average pooling over each channel's height and width (see :class:`_Pool2D`).

    y is the mean of each window; every entry of a window receives dy / (kh*kw) (summed
    where windows overlap).
    """

    def _pool(self, x: np.ndarray) -> tuple[np.ndarray, None]:
        if self._fast:
            return fast_pooling.avg_pool(x, self.window), None
        return _windows(x, self.window).mean(axis=-1), None

    def _unpool(self, dy: np.ndarray, cache: PoolCache) -> np.ndarray:
        if self._fast:
            return fast_pooling.avg_pool_backward(dy, cache.x_shape, self.window)
        return _spread(dy, cache.x_shape, self.window)
