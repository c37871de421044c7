"""Sliding-window geometry shared by Conv2D, the pooling layers, the fast kernels and the loops.

A window layer slides a ``kh x kw`` window over the (zero-padded) height and width of an
(N, C, H, W) batch in steps of ``stride``. Along the height there are

    Ho = (H + 2 * padding - kh) / stride + 1

window positions (the same for the width), and we insist that this is a whole number: a
window that would hang over the edge is an error here, not silently dropped, so every input
row takes part in the output.

The vectorized layers never loop over windows. They loop over the ``kh * kw`` *kernel
offsets* (i, j) instead: offset (i, j) of every window at once is the strided slice
``padded[..., i : i + stride*(Ho-1) + 1 : stride, j : j + stride*(Wo-1) + 1 : stride]``, an
(N, C, Ho, Wo) view. :meth:`Window.tap` gives that slice without building the padded array:
the part of it that lies in the input, and which windows it belongs to (the others read
padding, i.e. zeros); the tuned kernels in ``backprop_kit.fast`` use it. The readable layers
pad with ``np.pad`` and take :meth:`Window.slices` of the padded array. A convolution copies
these views into its im2col matrix and adds gradients back through them; a max pool compares
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Pair", "Window", "as_pair"]

Pair = tuple[int, int]
"""(height, width) sizes."""


def as_pair(value: object, name: str, where: str, minimum: int = 1) -> Pair:
    """Read a size given as one int (both axes) or as a pair of ints (height, width).

    Parameters
    ----------
    value : int or (int, int)
        The size, e.g. ``3`` or ``(3, 5)``.
    name, where : str
        The argument's name and the caller, for the message.
    minimum : int, default 1
        Smallest allowed entry (0 for a padding).

    Returns
    -------
    (int, int)
        The (height, width) pair.

    Raises
    ------
    ValueError
        If ``value`` is not an int >= minimum nor a pair of them.
    """

    def is_size(entry: object) -> bool:
        return isinstance(entry, int) and not isinstance(entry, bool) and entry >= minimum

    if is_size(value):
        return (int(value), int(value))  # type: ignore[call-overload]
    if isinstance(value, tuple | list) and len(value) == 2 and all(map(is_size, value)):
        return (int(value[0]), int(value[1]))
    raise ValueError(
        f"{where}: {name} must be an integer >= {minimum} or a pair (height, width) of them, "
        f"got {value!r}"
    )


@dataclass(frozen=True)
class Window:
    """Kernel size, stride and zero padding of a sliding window, each (height, width).

    Attributes
    ----------
    kernel : (int, int)
        (kh, kw), each >= 1.
    stride : (int, int)
        Step between neighbouring windows, each >= 1.
    padding : (int, int)
        Zeros added on each side of the height and of the width, each >= 0.
    """

    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)

    @classmethod
    def from_args(
        cls, kernel_size: object, stride: object, padding: object, where: str
    ) -> Window:
        """Validate layer arguments (ints or pairs) and build the window.

        Parameters
        ----------
        kernel_size, stride, padding : int or (int, int)
            As the layers take them; padding may be 0.
        where : str
            The caller, for error messages.

        Returns
        -------
        Window
        """
        return cls(
            kernel=as_pair(kernel_size, "kernel_size", where),
            stride=as_pair(stride, "stride", where),
            padding=as_pair(padding, "padding", where, minimum=0),
        )

    def output_size(self, height: int, width: int, where: str) -> Pair:
        """Number of window positions (Ho, Wo) on an input of size (height, width).

        Parameters
        ----------
        height, width : int
            H and W of the input, before padding.
        where : str
            The caller, for error messages.

        Returns
        -------
        (int, int)
            (Ho, Wo), each ``(size + 2 * padding - kernel) / stride + 1``.

        Raises
        ------
        ValueError
            If the kernel is larger than the padded input, or the stride does not divide
            ``size + 2 * padding - kernel`` (the output size would not be an integer).
        """
        sizes = []
        for axis, size, kernel, stride, pad in zip(
            ("height", "width"), (height, width), self.kernel, self.stride, self.padding,
            strict=True,
        ):
            padded = size + 2 * pad
            if kernel > padded:
                raise ValueError(
                    f"{where}: kernel {axis} {kernel} is larger than the padded input {axis} "
                    f"{padded} (= {size} + 2 * padding {pad})"
                )
            if (padded - kernel) % stride:
                raise ValueError(
                    f"{where}: output {axis} (input {size} + 2 * padding {pad} - kernel "
                    f"{kernel}) / stride {stride} + 1 = {(padded - kernel) / stride + 1:g} is "
                    f"not an integer; change padding or stride so that stride {stride} "
                    f"divides {padded - kernel}, or crop the input"
                )
            sizes.append((padded - kernel) // stride + 1)
        return (sizes[0], sizes[1])

    def offsets(self) -> Iterator[Pair]:
        """Yield the kernel offsets (i, j) in row-major order: (0, 0), (0, 1), ..."""
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                yield i, j

    def slices(self, i: int, j: int, out_size: Pair) -> tuple[slice, slice]:
        """Kernel offset (i, j) of every window, as slices of the *padded* input.

        Window (a, b) reads padded position (a*sh + i, b*sw + j), so offset (i, j) of all
        windows is the strided slice ``padded[..., i : i + sh*(Ho-1) + 1 : sh, j : ... : sw]``.

        Parameters
        ----------
        i, j : int
            The kernel offset, 0 <= i < kh, 0 <= j < kw.
        out_size : (int, int)
            (Ho, Wo), from :meth:`output_size`.

        Returns
        -------
        (slice, slice)
            For the last two axes: ``padded[..., rows, cols]`` has shape (..., Ho, Wo).
        """
        (sh, sw), (out_h, out_w) = self.stride, out_size
        return slice(i, i + sh * (out_h - 1) + 1, sh), slice(j, j + sw * (out_w - 1) + 1, sw)

    def tap(
        self, i: int, j: int, in_size: Pair, out_size: Pair
    ) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """Where kernel offset (i, j) of every window reads the input, padding left out.

        Window (a, b) reads padded position (a*sh + i, b*sw + j), which is input position
        (a*sh + i - ph, b*sw + j - pw) or lies in the zero padding. Only windows whose entry
        is a real input position are selected.

        Parameters
        ----------
        i, j : int
            The kernel offset, 0 <= i < kh, 0 <= j < kw.
        in_size : (int, int)
            (H, W) of the input, without padding.
        out_size : (int, int)
            (Ho, Wo), from :meth:`output_size`.

        Returns
        -------
        input_index : (slice, slice)
            Strided slices of the input's last two axes: the entries read.
        output_index : (slice, slice)
            Slices of a (Ho, Wo) grid of windows: the windows that read them, in the same
            order. ``x[..., *input_index]`` and ``grid[..., *output_index]`` have one shape.
            Without padding the output index is the whole grid, ``(slice(0, Ho), ...)``.
        """
        index_in, index_out = [], []
        for offset, size, out, stride, pad in zip(
            (i, j), in_size, out_size, self.stride, self.padding, strict=True
        ):
            first = max(0, -((offset - pad) // stride))  # smallest a with a*s + offset >= pad
            last = min(out - 1, (size - 1 + pad - offset) // stride)  # largest a still inside
            if last < first:
                index_in.append(slice(0, 0))
                index_out.append(slice(0, 0))
                continue
            start = first * stride + offset - pad
            index_in.append(slice(start, start + (last - first) * stride + 1, stride))
            index_out.append(slice(first, last + 1))
        return (index_in[0], index_in[1]), (index_out[0], index_out[1])

    def __str__(self) -> str:
        text = f"{self.kernel[0]}x{self.kernel[1]}"
        if self.stride != (1, 1):
            text += f", stride {_pair_text(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding {_pair_text(self.padding)}"
        return text


def _pair_text(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"
