"""The layer protocol every layer of the kit follows (and the gradient checker relies on).

A layer is an object with

- ``forward(x) -> y``: computes the output and keeps in ``cache`` what backward will need;
- ``backward(dy) -> dx``: given dL/dy, fills ``grads`` with dL/dparam and returns dL/dx;
- ``params``: ``dict[str, np.ndarray]`` of trainable arrays (empty for activations);
- ``grads``: ``dict[str, np.ndarray]`` with the same keys and shapes, written by backward;
- ``cache``: one named, documented value (an array or a small dataclass), ``None`` before the
  first forward;
- ``training``: ``True`` while training, ``False`` in evaluation mode (Dropout and batch norm
  behave differently).

Gradient arrays are allocated once and overwritten in place by every backward, so an optimizer
built from :meth:`Layer.parameters` keeps seeing the current gradients.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

import numpy as np

__all__ = ["CachesForBackward", "Layer"]


class CachesForBackward:
    """Mixin for anything whose backward reads what its forward stored in ``cache``."""

    cache: Any = None

    def _cached(self) -> Any:
        """Return ``cache``, or raise RuntimeError if forward has not run yet."""
        if self.cache is None:
            raise RuntimeError(
                f"{self!r}.backward was called before forward: call forward first, so it "
                "can cache what backward needs"
            )
        return self.cache


class Layer(CachesForBackward):
    """Base class: stores parameters and their gradients, the cache and the training flag.

    Parameters
    ----------
    **params : np.ndarray
        The layer's trainable arrays by name (e.g. ``W=..., b=...``); a zero gradient array of
        the same shape and dtype is allocated for each.
    """

    def __init__(self, **params: np.ndarray) -> None:
        self.params: dict[str, np.ndarray] = params
        self.grads: dict[str, np.ndarray] = {k: np.zeros_like(v) for k, v in params.items()}
        self.cache: Any = None
        self.training: bool = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the layer's output; subclasses document the shapes."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return dL/dx given dL/dy and fill ``grads``; subclasses document the shapes."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def parameters(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(param, grad)`` pairs, the form the optimizers take.

        Yields
        ------
        tuple of np.ndarray
            A parameter array and its gradient array, same shape.
        """
        for name, param in self.params.items():
            yield param, self.grads[name]

    def zero_grad(self) -> None:
        """Set every gradient array to zero, in place."""
        for grad in self.grads.values():
            grad.fill(0)

    def train(self, mode: bool = True) -> Self:
        """Switch to training mode (``mode=True``) or evaluation mode; returns the layer."""
        self.training = mode
        return self

    def eval(self) -> Self:
        """Switch to evaluation mode (``training = False``); returns the layer."""
        return self.train(False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
