"""The mixed-precision rule of the layer contract: a gradient has the dtype of its array.

dx has the dtype of the forward input x, and dW, db the dtypes of W and b, whatever the dtype
of the upstream gradient dy; a loss's gradient has the dtype of the prediction. Every layer
class exported by ``backprop_kit.layers`` is run with x float32 and float64 parameters, and the
reverse, and the upstream gradient always comes in the other dtype than x. A layer with
parameters may refuse an x that is not of its parameters' dtype (with a TypeError naming both);
it is then run with x in the parameters' dtype, and dy still in the other one.
"""

import numpy as np
import pytest

import backprop_kit.layers as kit_layers
from backprop_kit.layers import (
    GELU,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm1d,
    BatchNorm2d,
    Conv2D,
    Dropout,
    Embedding,
    Flatten,
    Layer,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool2D,
    MSELoss,
    MultiHeadSelfAttention,
    PositionalEmbedding,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    TemporalLinear,
    TemporalSoftmaxCrossEntropy,
    TransformerBlock,
)

OTHER = {np.dtype(np.float32): np.float64, np.dtype(np.float64): np.float32}
RNG = np.random.default_rng  # every layer and input is drawn from its own seeded generator


def float_input(*shape):
    return lambda dtype: RNG(1).standard_normal(shape).astype(dtype)


def token_ids(dtype):
    """Embedding's input: integer ids, whatever the float dtype of the case."""
    return RNG(1).integers(0, 7, size=(2, 5))


# name -> (make the layer with parameters of a dtype, make an input of a dtype)
LAYERS = {
    "Linear": (lambda p: Linear(4, 3, rng=RNG(0), dtype=p), float_input(5, 4)),
    "ReLU": (lambda p: ReLU(), float_input(5, 4)),
    "LeakyReLU": (lambda p: LeakyReLU(0.1), float_input(5, 4)),
    "Sigmoid": (lambda p: Sigmoid(), float_input(5, 4)),
    "Tanh": (lambda p: Tanh(), float_input(5, 4)),
    "Dropout": (lambda p: Dropout(0.5, rng=RNG(0)), float_input(5, 4)),
    "Dropout-eval": (lambda p: Dropout(0.5, rng=RNG(0)).eval(), float_input(5, 4)),
    "BatchNorm1d": (lambda p: BatchNorm1d(4, dtype=p), float_input(5, 4)),
    "BatchNorm1d-eval": (lambda p: BatchNorm1d(4, dtype=p).eval(), float_input(5, 4)),
    "BatchNorm2d": (lambda p: BatchNorm2d(3, dtype=p), float_input(2, 3, 4, 5)),
    "Conv2D": (lambda p: Conv2D(2, 3, 3, padding=1, rng=RNG(0), dtype=p),
               float_input(2, 2, 5, 6)),
    "MaxPool2D": (lambda p: MaxPool2D(2), float_input(2, 3, 4, 6)),
    "AvgPool2D": (lambda p: AvgPool2D(2), float_input(2, 3, 4, 6)),
    "Flatten": (lambda p: Flatten(), float_input(2, 3, 4)),
    "Embedding": (lambda p: Embedding(7, 3, rng=RNG(0), dtype=p), token_ids),
    "RNN": (lambda p: RNN(4, 3, rng=RNG(0), dtype=p), float_input(2, 5, 4)),
    "LSTM": (lambda p: LSTM(4, 3, rng=RNG(0), dtype=p), float_input(2, 5, 4)),
    "TemporalLinear": (lambda p: TemporalLinear(4, 3, rng=RNG(0), dtype=p),
                       float_input(2, 5, 4)),
    "Residual": (lambda p: Residual(Sequential(Linear(4, 4, rng=RNG(0), dtype=p), Tanh())),
                 float_input(5, 4)),
    "Residual-no-params": (lambda p: Residual(Tanh()), float_input(5, 4)),
    "LayerNorm": (lambda p: LayerNorm(4, dtype=p), float_input(2, 5, 4)),
    "MultiHeadSelfAttention": (lambda p: MultiHeadSelfAttention(4, 2, rng=RNG(0), dtype=p),
                               float_input(2, 5, 4)),
    "GELU": (lambda p: GELU(), float_input(2, 5, 4)),
    "PositionalEmbedding": (lambda p: PositionalEmbedding(6, 4, rng=RNG(0), dtype=p),
                            float_input(2, 5, 4)),
    "TransformerBlock": (lambda p: TransformerBlock(4, 2, rng=RNG(0), dtype=p),
                         float_input(2, 5, 4)),
    "Sequential": (lambda p: Sequential(Linear(4, 4, rng=RNG(0), dtype=p), ReLU(),
                                        Linear(4, 2, rng=RNG(2), dtype=p)), float_input(5, 4)),
}

CASES = pytest.mark.parametrize(
    ("x_dtype", "param_dtype"),
    [(np.float32, np.float64), (np.float64, np.float32)],
    ids=["x32-params64", "x64-params32"],
)


def test_every_exported_layer_class_is_covered():
    exported = {
        name for name in kit_layers.__all__
        if isinstance(getattr(kit_layers, name), type)
        and issubclass(getattr(kit_layers, name), Layer) and name != "Layer"
    }
    assert exported <= {name.split("-")[0] for name in LAYERS}


@CASES
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_gradient_has_the_dtype_of_the_array_it_is_the_gradient_of(
    name, x_dtype, param_dtype
):
    make_layer, make_input = LAYERS[name]
    layer = make_layer(param_dtype)
    x = make_input(x_dtype)
    try:
        y = layer.forward(x)
    except TypeError as error:
        assert layer.params, f"{name} has no parameters, so it must take x of any float dtype"
        message = str(error)
        assert str(np.dtype(x_dtype)) in message and str(np.dtype(param_dtype)) in message
        x = make_input(param_dtype)
        y = layer.forward(x)
    upstream = OTHER[x.dtype] if x.dtype in OTHER else OTHER[np.dtype(param_dtype)]
    dy = RNG(2).standard_normal(y.shape).astype(upstream)
    dx = layer.backward(dy)
    if np.issubdtype(x.dtype, np.integer):
        assert dx is None  # token ids have no gradient
    else:
        assert dx.dtype == x.dtype, f"dx is {dx.dtype} for x {x.dtype} (dy {dy.dtype})"
    for key, grad in layer.grads.items():
        assert grad.dtype == layer.params[key].dtype, f"d{key} is {grad.dtype}"


LOSSES = {
    "SoftmaxCrossEntropy": (SoftmaxCrossEntropy, (4, 3), lambda: np.array([0, 2, 1, 2])),
    "MSELoss": (MSELoss, (4, 3), lambda: RNG(3).standard_normal((4, 3))),
    "TemporalSoftmaxCrossEntropy": (TemporalSoftmaxCrossEntropy, (2, 3, 4),
                                    lambda: np.array([[0, 3, 1], [2, 2, 0]])),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LOSSES))
def test_a_loss_gradient_has_the_dtype_of_the_prediction(name, dtype):
    make, shape, make_target = LOSSES[name]
    prediction = RNG(1).standard_normal(shape).astype(dtype)
    target = make_target()
    if np.issubdtype(target.dtype, np.floating):
        target = target.astype(OTHER[np.dtype(dtype)])  # a float target in the other dtype
    loss = make()
    loss.forward(prediction, target)
    assert loss.backward(np.float64(0.5)).dtype == dtype
