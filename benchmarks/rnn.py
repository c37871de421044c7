"""Benchmark case: a tanh RNN forward + backpropagation through time, against PyTorch.

Shape N32 T50 D64 H128 (batch, steps, input size, hidden size). Both sides compute the same
things: all hidden states, then dx and the gradients of Wx, Wh and b for a fixed random
upstream gradient dh (N, T, H). The kit's layer does the input projection as one GEMM over
the T*N rows, only the recurrent product in the time loop, and dWx, dWh, db, dx as one GEMM
each after the backward loop (see ``backprop_kit.layers.recurrent``); PyTorch runs
``nn.RNN(batch_first=True)`` and ``torch.autograd.grad``.
"""

from __future__ import annotations

from functools import partial
from types import ModuleType

import numpy as np

from backprop_kit.layers import RNN
from benchmarks.core import Case, Step, autograd_step, layer_step

__all__ = ["cases"]


def _data(shape: tuple[int, int, int, int], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Seeded inputs x (N, T, D) and upstream gradient dh (N, T, H)."""
    n, steps, d, h = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, steps, d)).astype(dtype)
    dh = rng.standard_normal((n, steps, h)).astype(dtype)
    return x, dh


def _kit(shape: tuple[int, int, int, int], dtype: np.dtype) -> Step:
    layer = RNN(shape[2], shape[3], rng=np.random.default_rng(1), dtype=dtype)
    return layer_step(layer, *_data(shape, dtype))


def _torch(shape: tuple[int, int, int, int], torch: ModuleType, dtype: np.dtype) -> Step:
    torch.manual_seed(1)
    rnn = torch.nn.RNN(shape[2], shape[3], batch_first=True, nonlinearity="tanh")
    rnn = rnn.to(getattr(torch, np.dtype(dtype).name))
    x, dh = _data(shape, dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    return autograd_step(torch, lambda: rnn(xt)[0], (xt, *rnn.parameters()), torch.from_numpy(dh))


def cases(quick: bool) -> list[Case]:
    """The RNN case: N32 T50 D64 H128 with the issue's target, kit <= 0.7 x torch at 1 thread.

    Parameters
    ----------
    quick : bool
        Tiny shape for a smoke test, without targets.

    Returns
    -------
    list of Case
    """
    shape = (2, 3, 4, 5) if quick else (32, 50, 64, 128)
    n, steps, d, h = shape
    return [
        Case(
            name=f"RNN tanh fwd+BPTT N{n} T{steps} D{d} H{h}",
            kit=partial(_kit, shape),
            torch=partial(_torch, shape),
            torch_targets={} if quick else {"float32": 0.7, "float64": 0.7},
        )
    ]
