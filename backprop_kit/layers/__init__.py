"""The kit's layers and losses, each one's forward and backward side by side.

Layers (``forward(x) -> y``, ``backward(dy) -> dx``, ``params``, ``grads``, ``cache``; the
contract, dtypes included, is in ``base``):

- dense networks (N, D): :class:`Linear`, :class:`ReLU`, :class:`LeakyReLU`,
  :class:`Sigmoid`, :class:`Tanh`, :class:`Dropout`, :class:`BatchNorm1d`;
- images (N, C, H, W): :class:`Conv2D`, :class:`MaxPool2D`, :class:`AvgPool2D`,
  :class:`BatchNorm2d` and :class:`Flatten` (to (N, D)). The readable functions behind them
  are in ``conv`` and ``pooling``; the layers run the tuned kernels of ``backprop_kit.fast``
  (proven equal to the readable ones), and ``naive`` holds the plain loop versions to start
  from;
- sequences (N, T, D): :class:`RNN` (tanh), :class:`LSTM`, :class:`Embedding` (token ids to
  vectors) and :class:`TemporalLinear` (the same affine map at every step);
- transformers (N, T, D): :class:`LayerNorm` (over the last axis, any shape),
  :class:`MultiHeadSelfAttention` (causal; the readable attention functions and their
  backward passes are in ``attention``), :class:`GELU`, :class:`PositionalEmbedding` and
  :class:`TransformerBlock` (pre-LN: attention and an MLP, each in a residual branch);
- containers: :class:`Sequential` to chain layers and :class:`Residual` to add a skip
  connection around one.

Losses (``forward(prediction, target) -> float``, ``backward() -> dL/dprediction``):
:class:`SoftmaxCrossEntropy`, :class:`MSELoss`, and for sequences
:class:`TemporalSoftmaxCrossEntropy` (which also takes a ``mask``).
"""

from backprop_kit.layers.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from backprop_kit.layers.attention import MultiHeadSelfAttention
from backprop_kit.layers.base import Layer
from backprop_kit.layers.batchnorm import BatchNorm1d, BatchNorm2d
from backprop_kit.layers.conv import Conv2D
from backprop_kit.layers.dropout import Dropout
from backprop_kit.layers.embedding import Embedding
from backprop_kit.layers.layernorm import LayerNorm
from backprop_kit.layers.linear import Linear
from backprop_kit.layers.losses import Loss, MSELoss, SoftmaxCrossEntropy
from backprop_kit.layers.lstm import LSTM
from backprop_kit.layers.pooling import AvgPool2D, MaxPool2D
from backprop_kit.layers.reshape import Flatten
from backprop_kit.layers.residual import Residual
from backprop_kit.layers.rnn import RNN
from backprop_kit.layers.sequential import Sequential
from backprop_kit.layers.temporal import TemporalLinear, TemporalSoftmaxCrossEntropy
from backprop_kit.layers.transformer import GELU, PositionalEmbedding, TransformerBlock

__all__ = [
    "AvgPool2D",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "LSTM",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MSELoss",
    "MaxPool2D",
    "MultiHeadSelfAttention",
    "PositionalEmbedding",
    "RNN",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "TemporalLinear",
    "TemporalSoftmaxCrossEntropy",
    "TransformerBlock",
]
