"""Dense-network layers: each one's forward and backward side by side.

Layers (``forward(x) -> y``, ``backward(dy) -> dx``, ``params``, ``grads``, ``cache``):
:class:`Linear`, :class:`ReLU`, :class:`LeakyReLU`, :class:`Sigmoid`, :class:`Tanh`,
:class:`Dropout`, and :class:`Sequential` to chain them.

Losses (``forward(prediction, target) -> float``, ``backward() -> dL/dprediction``):
:class:`SoftmaxCrossEntropy`, :class:`MSELoss`.
"""

from backprop_kit.layers.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from backprop_kit.layers.base import Layer
from backprop_kit.layers.dropout import Dropout
from backprop_kit.layers.linear import Linear
from backprop_kit.layers.losses import Loss, MSELoss, SoftmaxCrossEntropy
from backprop_kit.layers.sequential import Sequential

__all__ = [
    "Dropout",
    "Layer",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MSELoss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
]
