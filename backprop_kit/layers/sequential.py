"""A chain of layers that is itself a layer."""

from __future__ import annotations

import numpy as np

from backprop_kit.layers._validate import check_is_layer
from backprop_kit.layers.base import Layer

__all__ = ["Sequential"]


class Sequential(Layer):
    """Apply layers one after another; backward applies their backwards in reverse order.

    forward:  x -> y = layers[-1].forward(... layers[0].forward(x))
    backward: dy -> dx = layers[0].backward(... layers[-1].backward(dy))

    The chain rule for a composition is exactly this: each layer turns the gradient with
    respect to its output into the gradient with respect to its input, and collects the
    gradients of its own parameters on the way.

    Parameters
    ----------
    *layers
        Objects that follow the layer protocol (``forward``, ``backward``, ``params``,
        ``grads``, ``training``), e.g. ``Linear``, ``ReLU`` or another ``Sequential``.

    Attributes
    ----------
    layers : list
        The layers, in forward order.
    params, grads : dict[str, np.ndarray]
        Every layer's parameters (gradients), keyed ``"<index>.<name>"``, e.g. ``"0.W"``. The
        values are the layers' own arrays, not copies: updating them updates the layers.
    training : bool
        Setting it sets it on every layer (``train()`` / ``eval()`` do this).
    cache : None
        Unused: each layer keeps its own cache.
    """

    def __init__(self, *layers: Layer) -> None:
        for index, layer in enumerate(layers):
            check_is_layer(layer, f"argument {index}", "Sequential",
                           hint=" (a loss goes to fit(), not into Sequential)")
        self.layers = list(layers)
        self.cache = None
        self._training = True
        # Layer.__init__ is not called: params, grads and training are derived properties here.

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {
            f"{index}.{name}": param
            for index, layer in enumerate(self.layers)
            for name, param in layer.params.items()
        }

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {
            f"{index}.{name}": grad
            for index, layer in enumerate(self.layers)
            for name, grad in layer.grads.items()
        }

    @property
    def training(self) -> bool:
        return self._training

    @training.setter
    def training(self, mode: bool) -> None:
        self._training = mode
        for layer in self.layers:
            layer.training = mode

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run every layer's forward in order.

        Parameters
        ----------
        x : np.ndarray
            Input of the first layer, e.g. (N, in_features).

        Returns
        -------
        np.ndarray
            Output of the last layer, e.g. (N, n_classes).
        """
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Run every layer's backward in reverse order, filling all ``grads``.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy for the last layer's output.

        Returns
        -------
        np.ndarray or None
            dL/dx for the first layer's input (None if the first layer skips it, see
            ``Linear(input_grad=False)``).
        """
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({index}) {layer!r}" for index, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
