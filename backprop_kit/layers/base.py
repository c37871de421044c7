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

Dtypes (mixed precision): **every gradient has the dtype of the array it is the gradient of.**
dx has the dtype of the forward input x and dW, db those of W and b, whatever the dtype of the
upstream dy (a float32 layer after a float64 one gets a float64 dy and still returns a float32
dx); a loss's gradient has the dtype of the prediction. Layers take dy in the dtype of their
output first (``_validate.check_upstream``) and so compute the backward in one dtype. A layer
with parameters requires x in its parameters' dtype and says so (TypeError) otherwise.

Containers (``Sequential``, ``Residual``) hold their layers in attributes;
:func:`walk_layers` finds every layer at every depth that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Self

import numpy as np

__all__ = ["LAYER_PROTOCOL", "CachesForBackward", "Layer", "inner_layers", "walk_layers"]

LAYER_PROTOCOL = ("forward", "backward", "params", "grads")
"""The attributes that make an object a layer (what containers and the gradient checker use)."""


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

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Arrays that are not trained but that a training forward updates; none here.

        BatchNorm's running mean and variance are the kit's only ones. Code that runs a forward
        again and must leave no trace of it (gradient checkpointing) saves and restores them.
        """
        return {}

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


def inner_layers(layer: object) -> list[Any]:
    """The layers ``layer`` holds directly in its attributes (alone or in a list or tuple).

    Parameters
    ----------
    layer : object
        Any object; e.g. a ``Sequential`` holds ``layers``, a ``Residual`` its ``block``.

    Returns
    -------
    list
        The objects found that follow the layer protocol (:data:`LAYER_PROTOCOL`), in
        attribute order; empty for a layer that holds no other.
    """
    found = []
    for value in vars(layer).values():
        for item in value if isinstance(value, list | tuple) else (value,):
            if all(hasattr(item, name) for name in LAYER_PROTOCOL):
                found.append(item)
    return found


def walk_layers(layers: Iterable[object]) -> list[Any]:
    """Every layer of ``layers`` and, depth first, every layer inside them, each once.

    Parameters
    ----------
    layers : iterable of layers
        E.g. the layers of a model or of one of its segments.

    Returns
    -------
    list
        Each layer followed by the layers it holds (:func:`inner_layers`), recursively; a layer
        reached twice is listed the first time only.
    """
    found: dict[int, Any] = {}

    def visit(layer: object) -> None:
        if id(layer) not in found:
            found[id(layer)] = layer
            for inner in inner_layers(layer):
                visit(inner)

    for layer in layers:
        visit(layer)
    return list(found.values())
