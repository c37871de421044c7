"""Benchmark cases: MaxPool2D 2x2, stride 2, forward+backward, against PyTorch and the loops.

The shape is the output of conv case (a), N64 C16 28x28, which a LeNet-style network pools
next; both comparisons use it (a call of the naive loops takes a second or two). The input
holds ReLU-like data (a third of it zeros), so that ties, and the first-max routing that
breaks them, happen as in a network.
"""

from __future__ import annotations

from functools import partial
from types import ModuleType

import numpy as np

from backprop_kit.layers.naive import maxpool2d_backward_loops, maxpool2d_forward_loops
from backprop_kit.layers.pooling import MaxPool2D
from benchmarks.core import Case, Step, autograd_step, layer_step

__all__ = ["cases"]

KERNEL = 2


def _data(shape: tuple[int, int, int, int], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Seeded input (ReLU-like: negatives clipped to 0) and upstream gradient."""
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal(shape) + 0.5, 0).astype(dtype)
    n, c, h, w = shape
    dy = rng.standard_normal((n, c, h // KERNEL, w // KERNEL)).astype(dtype)
    return x, dy


def _kit(shape: tuple[int, int, int, int], dtype: np.dtype) -> Step:
    return layer_step(MaxPool2D(KERNEL), *_data(shape, dtype))


def _naive(shape: tuple[int, int, int, int], dtype: np.dtype) -> Step:
    x, dy = _data(shape, dtype)

    def step() -> None:
        maxpool2d_forward_loops(x, KERNEL)
        maxpool2d_backward_loops(dy, x, KERNEL)

    return step


def _torch(shape: tuple[int, int, int, int], torch: ModuleType, dtype: np.dtype) -> Step:
    x, dy = _data(shape, dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    return autograd_step(
        torch, lambda: torch.nn.functional.max_pool2d(xt, KERNEL), (xt,), torch.from_numpy(dy)
    )


def _label(shape: tuple[int, int, int, int]) -> str:
    n, c, h, w = shape
    return f"maxpool N{n} C{c} {h}x{w} {KERNEL}x{KERNEL}/{KERNEL}"


def cases(quick: bool) -> list[Case]:
    """The maxpool cases: against torch, and against the loops, on the same shape.

    Parameters
    ----------
    quick : bool
        Tiny shapes for a smoke test, without targets (they are meant for the real shapes).

    Returns
    -------
    list of Case
    """
    shape = (2, 2, 8, 8) if quick else (64, 16, 28, 28)
    return [
        Case(
            name=_label(shape),
            kit=partial(_kit, shape),
            torch=partial(_torch, shape),
            torch_targets={} if quick else {"float32": 0.4, "float64": 0.8},
        ),
        Case(
            name=_label(shape) + " vs loops",
            kit=partial(_kit, shape),
            naive=partial(_naive, shape),
            min_speedup=None if quick else 200,
            dtypes=("float64",),
            threads=(1,),
            slow=True,
        ),
    ]
