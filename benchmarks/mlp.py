"""Benchmark case: one SGD training step of a 784-256-256-10 ReLU MLP, batch 128.

The step is what a training loop runs per minibatch: forward, softmax cross-entropy, backward
(the first layer skips dx of the data, ``input_grad=False``), and an SGD update. PyTorch runs
the same network the way a PyTorch user writes it: ``nn.Sequential``, ``cross_entropy``,
``backward`` and ``torch.optim.SGD``.
"""

from __future__ import annotations

from functools import partial
from types import ModuleType

import numpy as np

from backprop_kit.layers import Linear, ReLU, Sequential, SoftmaxCrossEntropy
from backprop_kit.optim import SGD
from benchmarks.core import Case, Step

__all__ = ["cases"]

LEARNING_RATE = 0.01


def _data(
    widths: tuple[int, ...], batch: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded input batch (batch, widths[0]) and integer labels (batch,)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, widths[0])).astype(dtype)
    labels = rng.integers(0, widths[-1], size=batch)
    return x, labels


def _kit(widths: tuple[int, ...], batch: int, dtype: np.dtype) -> Step:
    rng = np.random.default_rng(1)
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(Linear(fan_in, fan_out, rng=rng, dtype=dtype, input_grad=index > 0))
        layers.append(ReLU())
    model = Sequential(*layers[:-1])  # no ReLU after the output layer
    loss = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=LEARNING_RATE)
    x, labels = _data(widths, batch, dtype)

    def step() -> None:
        loss.forward(model.forward(x), labels)
        model.backward(loss.backward())
        optimizer.step()

    return step


def _torch(widths: tuple[int, ...], batch: int, torch: ModuleType, dtype: np.dtype) -> Step:
    torch.manual_seed(1)
    nn = torch.nn
    layers: list = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).to(getattr(torch, np.dtype(dtype).name))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    x, labels = _data(widths, batch, dtype)
    xt, labels_t = torch.from_numpy(x), torch.from_numpy(labels)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(xt), labels_t).backward()
        optimizer.step()

    return step


def cases(quick: bool) -> list[Case]:
    """The MLP training-step case.

    Parameters
    ----------
    quick : bool
        A tiny network for a smoke test, without targets.

    Returns
    -------
    list of Case
    """
    widths, batch = ((8, 6, 3), 4) if quick else ((784, 256, 256, 10), 128)
    label = "-".join(map(str, widths))
    return [
        Case(
            name=f"MLP step {label} N{batch}",
            kit=partial(_kit, widths, batch),
            torch=partial(_torch, widths, batch),
            torch_targets={} if quick else {"float32": 0.9, "float64": 0.9},
        )
    ]
