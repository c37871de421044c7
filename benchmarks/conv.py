"""Benchmark cases: Conv2D forward+backward (dx, dW, db), against PyTorch and the loops.

Three shapes from a small image network, all 3x3 kernels with padding 1, stride 1:
(a) N64 C1 28x28 F16 (a first layer on MNIST-sized images), (b) N64 C16 14x14 F32 (a second
layer after a pool), (c) N32 C3 32x32 F32 (a first layer on CIFAR-sized colour images).
Against the naive seven-loop references each shape runs with N=1 (the loops take about a
second even then), float64, 1 thread.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from types import ModuleType

import numpy as np

from backprop_kit.layers.conv import Conv2D
from backprop_kit.layers.naive import conv2d_backward_loops, conv2d_forward_loops
from benchmarks.core import Case, Step, autograd_step, layer_step

__all__ = ["ConvShape", "cases"]


@dataclass(frozen=True)
class ConvShape:
    """A convolution to time: batch, channels in, image size, filters, kernel and padding."""

    n: int
    c: int
    h: int
    w: int
    f: int
    kernel: int = 3
    padding: int = 1

    def __str__(self) -> str:
        return (
            f"N{self.n} C{self.c} {self.h}x{self.w} F{self.f} "
            f"{self.kernel}x{self.kernel} p{self.padding}"
        )


SHAPES = {
    "a": ConvShape(64, 1, 28, 28, 16),
    "b": ConvShape(64, 16, 14, 14, 32),
    "c": ConvShape(32, 3, 32, 32, 32),
}
"""The benchmark's shapes, by the issue's letters."""

TARGETS = {
    "a": {"float32": 0.9, "float64": 1.1},
    "b": {"float32": 2.5, "float64": 1.1},
    "c": {"float32": 1.3, "float64": 1.1},
}
"""Largest kit/torch time ratio at 1 thread, by shape and dtype."""

QUICK_SHAPE = ConvShape(2, 2, 6, 6, 3)


def _data(shape: ConvShape, dtype: np.dtype) -> tuple[Conv2D, np.ndarray, np.ndarray]:
    """A seeded layer (with a nonzero bias), input batch and upstream gradient."""
    rng = np.random.default_rng(0)
    layer = Conv2D(shape.c, shape.f, shape.kernel, padding=shape.padding, rng=rng, dtype=dtype)
    layer.params["b"][...] = rng.standard_normal(shape.f)
    x = rng.standard_normal((shape.n, shape.c, shape.h, shape.w)).astype(dtype)
    out_h = shape.h + 2 * shape.padding - shape.kernel + 1
    out_w = shape.w + 2 * shape.padding - shape.kernel + 1
    dy = rng.standard_normal((shape.n, shape.f, out_h, out_w)).astype(dtype)
    return layer, x, dy


def _kit(shape: ConvShape, dtype: np.dtype) -> Step:
    return layer_step(*_data(shape, dtype))


def _naive(shape: ConvShape, dtype: np.dtype) -> Step:
    layer, x, dy = _data(shape, dtype)
    weights, bias = layer.params["W"], layer.params["b"]

    def step() -> None:
        conv2d_forward_loops(x, weights, bias, 1, shape.padding)
        conv2d_backward_loops(dy, x, weights, 1, shape.padding)

    return step


def _torch(shape: ConvShape, torch: ModuleType, dtype: np.dtype) -> Step:
    layer, x, dy = _data(shape, dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    wt = torch.from_numpy(layer.params["W"]).requires_grad_(True)
    bt = torch.from_numpy(layer.params["b"]).requires_grad_(True)
    return autograd_step(
        torch,
        lambda: torch.nn.functional.conv2d(xt, wt, bt, padding=shape.padding),
        (xt, wt, bt),
        torch.from_numpy(dy),
    )


def cases(quick: bool) -> list[Case]:
    """The conv cases: (a), (b), (c) against torch, then each with N=1 against the loops.

    Parameters
    ----------
    quick : bool
        One tiny shape for a smoke test, without targets (they are meant for the real shapes).

    Returns
    -------
    list of Case
    """
    shapes = {"quick": QUICK_SHAPE} if quick else SHAPES
    against_torch = [
        Case(
            name=f"conv ({key}) {shape}",
            kit=partial(_kit, shape),
            torch=partial(_torch, shape),
            torch_targets={} if quick else TARGETS[key],
        )
        for key, shape in shapes.items()
    ]
    against_loops = [
        Case(
            name=f"conv ({key}) {replace(shape, n=1)} vs loops",
            kit=partial(_kit, replace(shape, n=1)),
            naive=partial(_naive, replace(shape, n=1)),
            min_speedup=None if quick else 200,
            dtypes=("float64",),
            threads=(1,),
            slow=True,
        )
        for key, shape in shapes.items()
    ]
    return against_torch + against_loops
