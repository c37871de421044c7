"""Oracle: Conv2D, MaxPool2D and AvgPool2D against PyTorch float64 autograd.

Both libraries compute a cross-correlation on NCHW batches with weights (F, C, kh, kw), so the
kit's parameters go into torch unchanged. Max pooling sends each window's gradient to the
first maximum in row-major window order in both (the kit's documented rule; torch's CPU kernel
keeps the first index whose value beats the running maximum), which integer-valued inputs,
full of ties, put to the test. Each layer runs with its tuned kernels (``fast=True``, the
default) and with the readable code (``fast=False``); the readable public functions
(``conv2d_forward`` ...), which the notebooks compare with, are tested on their own too.
"""

import numpy as np
import pytest
from torch_oracle import assert_matches, check_layer, randomize_parameters, run_reference, torch

from backprop_kit.layers import AvgPool2D, Conv2D, MaxPool2D
from backprop_kit.layers.conv import conv2d_backward, conv2d_forward
from backprop_kit.layers.pooling import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

F = torch.nn.functional


def conv_reference(stride, padding):
    return lambda t: F.conv2d(t["x"], t["W"], t["b"], stride=stride, padding=padding)


# (N, C, H, W), F, kernel, stride, padding: non-square inputs and kernels, strides and paddings
# per axis, windows that overlap and windows that skip entries.
CONV_CASES = [
    ((2, 3, 5, 7), 4, (3, 3), 1, 0),
    ((2, 3, 5, 7), 4, (3, 3), 1, 1),
    ((3, 2, 7, 9), 5, (3, 5), (2, 1), (1, 2)),
    ((1, 4, 8, 6), 2, (2, 2), 2, 0),
    ((2, 1, 9, 9), 3, (1, 3), (4, 3), (0, 3)),
    ((2, 3, 4, 5), 6, (4, 5), 1, 0),
    ((2, 2, 6, 5), 3, (3, 2), (3, 1), (0, 1)),
]


FAST = pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])


@FAST
@pytest.mark.parametrize(("x_shape", "filters", "kernel", "stride", "padding"), CONV_CASES)
def test_conv2d_matches_torch(x_shape, filters, kernel, stride, padding, fast):
    rng = np.random.default_rng(sum(x_shape) + filters)
    layer = Conv2D(x_shape[1], filters, kernel, stride=stride, padding=padding, rng=rng,
                   fast=fast)
    randomize_parameters(layer, rng)
    check_layer(layer, rng.standard_normal(x_shape), conv_reference(stride, padding), rng)


@FAST
def test_conv2d_without_input_gradient_matches_torch_parameter_gradients(fast):
    rng = np.random.default_rng(1)
    layer = Conv2D(2, 3, 3, stride=2, padding=1, rng=rng, input_grad=False, fast=fast)
    randomize_parameters(layer, rng)
    check_layer(layer, rng.standard_normal((2, 2, 7, 5)), conv_reference(2, 1), rng,
                input_grad=False)


@FAST
def test_conv2d_reused_on_new_input_geometries_matches_torch_each_time(fast):
    """One layer, its scratch buffers reused, on batches of other N, H and W in turn; the
    first three have the same N*Ho*Wo = 90 output positions (so im2col matrices of one shape)
    with the zero padding in other places."""
    rng = np.random.default_rng(2)
    layer = Conv2D(3, 2, (3, 2), stride=1, padding=(1, 2), rng=rng, fast=fast)
    randomize_parameters(layer, rng)
    for shape in [(2, 3, 5, 6), (3, 3, 5, 3), (1, 3, 9, 7), (4, 3, 3, 3), (2, 3, 5, 6)]:
        check_layer(layer, rng.standard_normal(shape), conv_reference(1, (1, 2)), rng)


# (N, C, H, W), kernel, stride (None: the kernel): the 2x2/2 fast path, other tilings, and
# windows that overlap (stride < kernel) or leave gaps (stride > kernel).
POOL_CASES = [
    ((2, 3, 4, 6), 2, None),
    ((2, 3, 6, 9), 3, None),
    ((2, 2, 4, 9), (2, 3), None),
    ((2, 3, 7, 5), 3, 2),
    ((1, 2, 8, 8), 2, 3),
    ((2, 2, 5, 7), (3, 2), (1, 1)),
    ((3, 1, 6, 8), (2, 4), (4, 2)),
]


def pooling_input(shape, rng, ties):
    """Standard normal entries, or integers in [-2, 2] so that most windows hold ties."""
    if ties:
        return rng.integers(-2, 3, shape).astype(np.float64)
    return rng.standard_normal(shape)


@FAST
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOL_CASES)
def test_maxpool2d_matches_torch(x_shape, kernel, stride, ties, training, fast):
    rng = np.random.default_rng(sum(x_shape))
    layer = MaxPool2D(kernel, stride, fast=fast).train(training)
    x = pooling_input(x_shape, rng, ties)
    step = kernel if stride is None else stride
    check_layer(layer, x, lambda t: F.max_pool2d(t["x"], kernel, step), rng)


@FAST
@pytest.mark.parametrize(
    ("x_shape", "kernel", "stride"), [((2, 2, 4, 6), 2, None), ((1, 3, 5, 7), 3, 2),
                                      ((2, 1, 4, 7), (2, 3), (1, 2))]
)
def test_maxpool2d_all_equal_windows_send_the_gradient_to_the_first_entry_as_torch(
    x_shape, kernel, stride, fast
):
    """A window of zeros (after a ReLU) is all ties: the gradient goes to its top-left entry."""
    step = kernel if stride is None else stride
    check_layer(MaxPool2D(kernel, stride, fast=fast), np.zeros(x_shape),
                lambda t: F.max_pool2d(t["x"], kernel, step), np.random.default_rng(3))


@FAST
@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOL_CASES)
def test_avgpool2d_matches_torch(x_shape, kernel, stride, fast):
    rng = np.random.default_rng(sum(x_shape) + 1)
    step = kernel if stride is None else stride
    check_layer(AvgPool2D(kernel, stride, fast=fast), rng.standard_normal(x_shape),
                lambda t: F.avg_pool2d(t["x"], kernel, step), rng)


@pytest.mark.parametrize(("x_shape", "filters", "kernel", "stride", "padding"), CONV_CASES[1:4])
def test_conv2d_functions_match_torch(x_shape, filters, kernel, stride, padding):
    rng = np.random.default_rng(sum(x_shape) + 2)
    x = rng.standard_normal(x_shape)
    weights = rng.standard_normal((filters, x_shape[1], *np.broadcast_to(kernel, 2)))
    bias = rng.standard_normal(filters)
    y = conv2d_forward(x, weights, bias, stride, padding)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv2d_backward(dy, x, weights, stride, padding)
    ref_y, grads = run_reference(conv_reference(stride, padding),
                                 {"x": x, "W": weights, "b": bias}, dy)
    for name, kit, reference in [("y", y, ref_y), ("dx", dx, grads["x"]),
                                 ("dW", dw, grads["W"]), ("db", db, grads["b"])]:
        assert_matches(kit, reference, name)


@pytest.mark.parametrize(("x_shape", "kernel", "stride"), POOL_CASES[:5])
def test_pooling_functions_match_torch_with_ties(x_shape, kernel, stride):
    rng = np.random.default_rng(sum(x_shape) + 3)
    x = pooling_input(x_shape, rng, ties=True)
    step = kernel if stride is None else stride
    for forward, backward, reference, backward_input in [
        (maxpool2d_forward, maxpool2d_backward, F.max_pool2d, x),
        (avgpool2d_forward, avgpool2d_backward, F.avg_pool2d, x.shape),
    ]:
        y = forward(x, kernel, stride)
        dy = rng.standard_normal(y.shape)
        ref_y, grads = run_reference(lambda t, pool=reference: pool(t["x"], kernel, step),
                                     {"x": x}, dy)
        assert_matches(y, ref_y, f"{forward.__name__} y")
        assert_matches(backward(dy, backward_input, kernel, stride), grads["x"],
                       f"{backward.__name__} dx")
