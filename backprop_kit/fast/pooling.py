"""Tuned max and average pooling kernels: the numbers of ``layers.pooling``, faster.

The readable version (``backprop_kit.layers.pooling``) gathers every window into an array
(N, C, Ho, Wo, kh*kw) and takes its max (with argmax for the routing) or its mean. These
kernels avoid that copy: both poolings are separable (the max of a window is the max over
its kh rows of each row's max, its mean the mean of the row means), so each pools along the
width first, then along the height. Pooling along one axis combines the ``k`` strided slices
("taps") of the array that hold kernel offset 0, 1, ..., k-1 of every window, elementwise.

The backward runs the two 1-D backwards in reverse order, as the chain rule says for a
composition:

- max pool: each window's gradient goes to the FIRST position (row-major) holding its
  maximum, and only there. Along one axis, the first tap equal to the output takes the
  gradient, and a later tap only where no earlier one did; done along the height and then
  the width, this picks the first row holding the window's max, then the first entry of that
  row holding it: the first maximum in row-major order (what argmax picks);
- average pool: dy / (kh*kw) goes to every tap, along the height, then the width.

Where windows overlap (stride < kernel) taps share entries and their gradients are added.

Max pooling 2x2 with stride 2, by far the most common window, has a faster path of its own
(same results): numpy runs slowly on the short, strided rows that a width-first pooling
creates, so the forward pools along the height first (rows of W contiguous entries), then along
the width, and the routing is not done in two steps: each window's first maximum is found
directly (with the window ``a b / c d`` it is ``a`` if a == y, else ``b`` if b == y, else
``c`` if c == y, else ``d``), as one flat index into x per window, and the backward scatters
dy there into a zero dx (the windows tile x, so no two indices collide). The training forward
finds the index, in blocks of samples small enough to stay in the cache (see
:data:`BLOCK_BYTES`), so that x is read from memory once for y and the routing together.

Inputs are not checked here: the pooling layers check them first. Every dx has the dtype of
dy (the layers pass dy in the dtype of x).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the layers package imports this module: no import of it at run time
    from backprop_kit.layers.windows import Window

__all__ = [
    "BLOCK_BYTES",
    "MaxRouting",
    "avg_pool",
    "avg_pool_backward",
    "max_pool",
    "max_pool_backward",
]

_WHERE = "backprop_kit.fast.pooling"  # the layers check the geometry before calling in


@dataclass(frozen=True)
class _Axis:
    """One axis of a pooling window: the array axis, kernel size, stride, output count."""

    axis: int
    kernel: int
    stride: int
    count: int

    def taps(self, array: np.ndarray) -> list[np.ndarray]:
        """The views of ``array`` holding kernel offset 0, 1, ... of every window."""
        taps = []
        for offset in range(self.kernel):
            index = [slice(None)] * array.ndim
            index[self.axis] = slice(offset, offset + self.stride * (self.count - 1) + 1,
                                     self.stride)
            taps.append(array[tuple(index)])
        return taps

    def gradient_buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array to write the taps' gradients into: zeros unless the taps tile it."""
        tiled = self.stride == self.kernel and self.kernel * self.count == shape[self.axis]
        return (np.empty if tiled else np.zeros)(shape, dtype=dtype)

    def write_product(self, dx_tap: np.ndarray, dy: np.ndarray, factor: object) -> None:
        """Set the tap view ``dx_tap`` to ``dy * factor``, or add it if windows overlap."""
        if self.stride >= self.kernel:
            np.multiply(dy, factor, out=dx_tap)  # each entry of dx is in one window only
        else:
            dx_tap += dy * factor


def _axes(window: Window, x_shape: tuple[int, ...]) -> tuple[_Axis, _Axis]:
    """The (height, width) axes of the window on an (N, C, H, W) input."""
    out_h, out_w = window.output_size(*x_shape[2:], _WHERE)
    (kh, kw), (sh, sw) = window.kernel, window.stride
    return _Axis(2, kh, sh, out_h), _Axis(3, kw, sw, out_w)


def _fold(taps: list[np.ndarray], combine: np.ufunc) -> np.ndarray:
    """Combine the taps elementwise with ``combine`` (np.maximum, np.add): a fresh array."""
    out = combine(taps[0], taps[1]) if len(taps) > 1 else taps[0].copy()
    for tap in taps[2:]:
        combine(out, tap, out=out)
    return out


def _is_2x2_tiling(window: Window) -> bool:
    """Whether the window is 2x2 with stride 2: the case with a fast path of its own."""
    return window.kernel == (2, 2) and window.stride == (2, 2)


def _max_forward(x: np.ndarray, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Row maxima (N, C, H, Wo) and window maxima y (N, C, Ho, Wo), for any window."""
    height, width = _axes(window, x.shape)
    rows = _fold(width.taps(x), np.maximum)
    return rows, _fold(height.taps(rows), np.maximum)


BLOCK_BYTES = 1 << 20
"""Bytes of x in one block of samples of the 2x2/2 routing (at least one sample).

A block and its temporaries stay in a core's L2 cache (1 MiB on the machines measured), so
that x comes from memory once, not once per comparison; see ``python -m benchmarks
--cases pool`` for the effect.
"""


@lru_cache(maxsize=4)
def _corner_index(n: int, c: int, h: int, w: int) -> np.ndarray:
    """Flat index into a C-ordered (n, c, h, w) array of every 2x2/2 window's top-left entry.

    Returns
    -------
    np.ndarray
        Shape (n, c, h // 2, w // 2), intp, read-only (it is shared between calls).
    """
    top_rows = np.arange(n * c * (h // 2), dtype=np.intp) * (2 * w)  # entry (n, c, 2i, 0)
    index = (top_rows[:, None] + np.arange(0, w, 2, dtype=np.intp)).reshape(n, c, h // 2, w // 2)
    index.flags.writeable = False
    return index


def _window_max_2x2(
    x: np.ndarray, out: np.ndarray | None = None, columns: np.ndarray | None = None
) -> np.ndarray:
    """2x2/2 max pooling of x (N, C, H, W) into ``out`` (N, C, H/2, W/2) (new when None).

    The height first: its two taps are rows of W contiguous entries, on which numpy is fast;
    ``columns`` (N, C, H/2, W) receives those column maxima (new when None).
    """
    columns = np.maximum(x[:, :, 0::2], x[:, :, 1::2], out=columns)
    return np.maximum(columns[..., 0::2], columns[..., 1::2], out=out)


def _first_max_index_2x2(
    x: np.ndarray, y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """2x2/2 max pooling with the flat index into x of each window's first maximum.

    With the window ``a b / c d`` the first maximum in row-major order lies in the bottom row
    unless a or b holds y, and in the right column if a does not hold y and either b holds it
    or c does not (then it is b or d). The batch is worked through in blocks of samples of
    about :data:`BLOCK_BYTES`, every step of a block writing into buffers that the next block
    reuses.

    Parameters
    ----------
    x : np.ndarray
        Shape (N, C, H, W), H and W even.
    y : np.ndarray, optional
        The window maxima (N, C, H/2, W/2) if already known; computed when None.

    Returns
    -------
    y : np.ndarray
        Shape (N, C, H/2, W/2): ``y`` itself when given.
    index : np.ndarray
        Shape (N, C, H/2, W/2), intp: the position of each window's first maximum in
        ``x.reshape(-1)``.
    """
    n, c, h, w = x.shape
    block = max(1, min(n, BLOCK_BYTES // max(1, x[:1].nbytes)))  # samples per block
    compute_y = y is None
    if compute_y:
        y = np.empty((n, c, h // 2, w // 2), dtype=x.dtype)
        columns = np.empty((block, c, h // 2, w), dtype=x.dtype)
    index = np.empty(y.shape, dtype=np.intp)
    a_max, right, lower = (np.empty((block, *y.shape[1:]), dtype=bool) for _ in range(3))
    corner = _corner_index(block, c, h, w)
    for start in range(0, n, block):
        x_block, y_block = x[start : start + block], y[start : start + block]
        size = len(x_block)
        if compute_y:
            _window_max_2x2(x_block, out=y_block, columns=columns[:size])
        a, r, low = a_max[:size], right[:size], lower[:size]
        np.equal(x_block[:, :, 0::2, 0::2], y_block, out=a)
        np.equal(x_block[:, :, 0::2, 1::2], y_block, out=low)  # b holds y
        np.not_equal(x_block[:, :, 1::2, 0::2], y_block, out=r)  # c does not hold y
        np.logical_or(r, low, out=r)
        np.greater(r, a, out=r)  # right column: (b or not c) and not a
        np.logical_or(low, a, out=low)
        np.logical_not(low, out=low)  # bottom row: neither a nor b
        block_index = index[start : start + block]
        np.multiply(low, w, out=block_index)  # offset of the first maximum in its window
        block_index += r
        block_index += corner[:size]
        if start:
            block_index += start * c * h * w
    return y, index


def _scatter(dy: np.ndarray, index: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """A zero array of shape ``x_shape`` with ``dy`` added at the flat positions ``index``.

    The positions must be distinct (true for windows that tile x).
    """
    dx = np.zeros(x_shape, dtype=dy.dtype)
    dx.reshape(-1)[index.reshape(-1)] = dy.reshape(-1)
    return dx


def _route_along(dy: np.ndarray, x: np.ndarray, y: np.ndarray, axis: _Axis) -> np.ndarray:
    """1-D max pool backward: each output's dy goes to the first tap of x equal to it."""
    dx = axis.gradient_buffer(x.shape, dy.dtype)
    unclaimed = None  # where no earlier tap held the max (None: before the first tap)
    for offset, (x_tap, dx_tap) in enumerate(zip(axis.taps(x), axis.taps(dx), strict=True)):
        if offset == axis.kernel - 1:
            hit = True if unclaimed is None else unclaimed  # the last tap takes the rest
        elif unclaimed is None:
            hit = x_tap == y
            unclaimed = ~hit
        else:
            hit = x_tap == y
            hit &= unclaimed
            unclaimed ^= hit  # hit lies inside unclaimed, so xor removes it
        axis.write_product(dx_tap, dy, hit)
    return dx


@dataclass
class MaxRouting:
    """What the max-pooling backward needs from the forward (one of three forms).

    Attributes
    ----------
    x_shape : tuple of int
        (N, C, H, W) of the input.
    y : np.ndarray
        The output (N, C, Ho, Wo).
    x : np.ndarray or None
        The input, by reference (do not modify it before backward); None when ``index``
        makes it unnecessary.
    rows : np.ndarray or None
        The maxima along the width, (N, C, H, Wo): the intermediate of the two 1-D poolings
        that windows other than 2x2/2 are computed with; None for 2x2/2.
    index : np.ndarray or None
        2x2/2 windows in training mode: the flat position in x of each window's first
        maximum, (N, C, Ho, Wo) intp, found by the forward (so the backward is a scatter);
        None otherwise.
    """

    x_shape: tuple[int, ...]
    y: np.ndarray
    x: np.ndarray | None = None
    rows: np.ndarray | None = None
    index: np.ndarray | None = None


def max_pool(x: np.ndarray, window: Window, training: bool) -> tuple[np.ndarray, MaxRouting]:
    """Max pooling of x (N, C, H, W): y (N, C, Ho, Wo) and what the backward needs.

    For 2x2/2 windows in training mode the forward also finds each window's first maximum, as
    ``torch.nn.functional.max_pool2d`` does when its input requires a gradient: the data is
    read while it is in the cache, the backward is one scatter, and the routing holds an intp
    index (N, C, Ho, Wo) instead of x. Otherwise (evaluation mode, e.g. for an input-gradient
    saliency map, or other windows) it keeps x and the backward finds the maxima.
    """
    if not _is_2x2_tiling(window):
        rows, y = _max_forward(x, window)
        return y, MaxRouting(x_shape=x.shape, y=y, x=x, rows=rows)
    if training:
        y, index = _first_max_index_2x2(x)
        return y, MaxRouting(x_shape=x.shape, y=y, index=index)
    y = _window_max_2x2(x)
    return y, MaxRouting(x_shape=x.shape, y=y, x=x)


def max_pool_backward(dy: np.ndarray, routing: MaxRouting, window: Window) -> np.ndarray:
    """dx (N, C, H, W): each window's dy (N, C, Ho, Wo) at its first maximum, zero elsewhere."""
    if routing.rows is not None:  # route along the height to the rows, then along the width
        height, width = _axes(window, routing.x_shape)
        d_rows = _route_along(dy, routing.rows, routing.y, height)
        return _route_along(d_rows, routing.x, routing.rows, width)
    index = routing.index
    if index is None:  # a 2x2/2 forward in evaluation mode
        index = _first_max_index_2x2(routing.x, routing.y)[1]
    return _scatter(dy, index, routing.x_shape)


def avg_pool(x: np.ndarray, window: Window) -> np.ndarray:
    """Average pooling of x (N, C, H, W): the mean of every window, (N, C, Ho, Wo)."""
    height, width = _axes(window, x.shape)
    y = _fold(height.taps(_fold(width.taps(x), np.add)), np.add)
    y *= 1.0 / (height.kernel * width.kernel)
    return y


def _spread_along(dy: np.ndarray, size: int, axis: _Axis, factor: float) -> np.ndarray:
    """1-D average pool backward: every tap receives dy * factor."""
    shape = list(dy.shape)
    shape[axis.axis] = size
    dx = axis.gradient_buffer(tuple(shape), dy.dtype)
    for dx_tap in axis.taps(dx):
        axis.write_product(dx_tap, dy, factor)
    return dx


def avg_pool_backward(
    dy: np.ndarray, x_shape: tuple[int, ...], window: Window
) -> np.ndarray:
    """dx (``x_shape``): dy (N, C, Ho, Wo) / (kh*kw) spread along the height, then the width."""
    height, width = _axes(window, x_shape)
    d_rows = _spread_along(dy, x_shape[2], height, 1.0 / (height.kernel * width.kernel))
    return _spread_along(d_rows, x_shape[3], width, 1.0)
