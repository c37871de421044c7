"""The tuned kernels of backprop_kit.fast equal the readable layers and the naive loops.

In float64, on hypothesis-drawn geometries (batch 0 included, channels, non-square images and
kernels, strides, paddings), whole-number inputs for max pooling so that tied maxima are
common, and random upstream gradients. Each example runs ONE fast and ONE readable layer
object through several input shapes in turn: buffers or caches kept from one shape must not
leak into the next. The expected values come from ``backprop_kit.layers.naive``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.fast import conv as fast_conv
from backprop_kit.fast import pooling as fast_pooling
from backprop_kit.fast.pooling import MaxRouting
from backprop_kit.layers import AvgPool2D, Conv2D, MaxPool2D, conv, naive, pooling

TOLERANCE = {"rtol": 1e-12, "atol": 1e-12}
pairs = st.tuples  # (height, width)


@st.composite
def input_shapes(draw, channels, kernel, stride, padding=(0, 0)):
    """1 to 3 input shapes (N, C, H, W) that the window fits exactly, N from 0 to 3."""
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        out = draw(pairs(st.integers(1, 4), st.integers(1, 4)))
        size = [max(1, (o - 1) * s + k - 2 * p)  # the smallest size giving this output...
                for o, s, k, p in zip(out, stride, kernel, padding, strict=True)]
        size = [n + (-(n + 2 * p - k) % s)  # ...raised until the stride divides evenly
                for n, s, k, p in zip(size, stride, kernel, padding, strict=True)]
        shapes.append((draw(st.integers(0, 3)), channels, *size))
    return shapes


@st.composite
def conv_cases(draw):
    """A Conv2D geometry, the input shapes one layer sees in turn, and a seed for the data."""
    c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    stride = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(pairs(st.integers(0, 2), st.integers(0, 2)))
    shapes = draw(input_shapes(c, kernel, stride, padding))
    return c, f, kernel, stride, padding, shapes, draw(st.integers(0, 2**16))


def _assert_close_all(got, want):
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, **TOLERANCE)


@settings(max_examples=60, deadline=None)
@given(case=conv_cases())
def test_fast_conv_equals_readable_conv_equals_loops_on_one_layer_across_shapes(case):
    c, f, kernel, stride, padding, shapes, seed = case
    rng = np.random.default_rng(seed)
    layers = [Conv2D(c, f, kernel, stride=stride, padding=padding, rng=rng, fast=fast)
              for fast in (True, False)]
    W, b = rng.standard_normal((f, c, *kernel)), rng.standard_normal(f)
    for layer in layers:
        layer.params["W"][...] = W
        layer.params["b"][...] = b
    for shape in shapes:
        x = rng.standard_normal(shape)
        y = naive.conv2d_forward_loops(x, W, b, stride, padding)
        dy = rng.standard_normal(y.shape)
        grads = naive.conv2d_backward_loops(dy, x, W, stride, padding)
        _assert_close_all([conv.conv2d_forward(x, W, b, stride, padding)], [y])
        _assert_close_all(conv.conv2d_backward(dy, x, W, stride, padding), grads)
        for layer in layers:
            _assert_close_all([layer.forward(x)], [y])
            dx = layer.backward(dy)
            _assert_close_all([dx, layer.grads["W"], layer.grads["b"]], grads)


@pytest.mark.parametrize("per_sample", [True, False], ids=["dW-per-sample", "dW-one-product"])
def test_both_weight_gradient_products_of_the_fast_kernel_equal_the_loops(
    monkeypatch, per_sample
):
    # Which product computes dW depends on the positions per sample; force each in turn.
    monkeypatch.setattr(fast_conv, "PER_SAMPLE_WEIGHT_GRAD_POSITIONS", 1 if per_sample else 10**9)
    rng = np.random.default_rng(7)
    layer = Conv2D(2, 3, (3, 2), stride=(1, 2), padding=1, rng=rng)
    layer.params["b"][...] = rng.standard_normal(3)
    x = rng.standard_normal((3, 2, 9, 8))
    dy = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(dy)
    expected = naive.conv2d_backward_loops(dy, x, layer.params["W"], (1, 2), 1)
    _assert_close_all([dx, layer.grads["W"], layer.grads["b"]], expected)


@st.composite
def pool_cases(draw):
    """A pooling window (2x2/2, the fast kernels' special case, in a third of the examples),
    the input shapes one layer sees in turn, whole-number or continuous data, a seed."""
    if draw(st.integers(0, 2)) == 0:
        kernel, stride = (2, 2), (2, 2)
    else:
        kernel = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
        stride = draw(pairs(st.integers(1, 3), st.integers(1, 3)))
    shapes = draw(input_shapes(draw(st.integers(1, 3)), kernel, stride))
    return kernel, stride, shapes, draw(st.booleans()), draw(st.integers(0, 2**16))


def _pool_input(rng, shape, ties):
    return rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)


@settings(max_examples=80, deadline=None)
@given(case=pool_cases())
def test_fast_maxpool_equals_readable_maxpool_equals_loops_also_with_ties(case):
    kernel, stride, shapes, ties, seed = case
    rng = np.random.default_rng(seed)
    layers = [MaxPool2D(kernel, stride, fast=True), MaxPool2D(kernel, stride, fast=True).eval(),
              MaxPool2D(kernel, stride, fast=False)]
    for shape in shapes:
        x = _pool_input(rng, shape, ties)
        y = naive.maxpool2d_forward_loops(x, kernel, stride)
        dy = rng.standard_normal(y.shape)
        dx = naive.maxpool2d_backward_loops(dy, x, kernel, stride)
        np.testing.assert_array_equal(pooling.maxpool2d_forward(x, kernel, stride), y)
        _assert_close_all([pooling.maxpool2d_backward(dy, x, kernel, stride)], [dx])
        for layer in layers:
            np.testing.assert_array_equal(layer.forward(x), y)
            _assert_close_all([layer.backward(dy)], [dx])


@settings(max_examples=40, deadline=None)
@given(case=pool_cases())
def test_fast_avgpool_equals_readable_avgpool_equals_loops(case):
    kernel, stride, shapes, ties, seed = case
    rng = np.random.default_rng(seed)
    layers = [AvgPool2D(kernel, stride, fast=fast) for fast in (True, False)]
    for shape in shapes:
        x = _pool_input(rng, shape, ties)
        y = naive.avgpool2d_forward_loops(x, kernel, stride)
        dy = rng.standard_normal(y.shape)
        dx = naive.avgpool2d_backward_loops(dy, x.shape, kernel, stride)
        _assert_close_all([pooling.avgpool2d_forward(x, kernel, stride)], [y])
        _assert_close_all([pooling.avgpool2d_backward(dy, x.shape, kernel, stride)], [dx])
        for layer in layers:
            _assert_close_all([layer.forward(x), layer.backward(dy)], [y, dx])


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_2x2_routing_in_several_blocks_equals_the_loops(monkeypatch, training, order):
    # 5 samples in blocks of 2 (two full blocks and a short one), on tie-heavy data: a wrong
    # block offset or a stale buffer would send gradients to the wrong sample. The flat index
    # is into a C-ordered dx, whatever the memory order of x.
    rng = np.random.default_rng(3)
    x = np.asarray(rng.integers(0, 3, (5, 3, 6, 8)), dtype=float, order=order)
    dy = rng.standard_normal((5, 3, 3, 4))
    monkeypatch.setattr(fast_pooling, "BLOCK_BYTES", 2 * x[0].nbytes + 1)
    pool = MaxPool2D(2).train(training)
    np.testing.assert_array_equal(pool.forward(x), naive.maxpool2d_forward_loops(x, 2))
    np.testing.assert_array_equal(pool.backward(dy), naive.maxpool2d_backward_loops(dy, x, 2))


def test_2x2_training_forward_keeps_the_routing_and_evaluation_keeps_the_input():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 4))
    pool = MaxPool2D()
    pool.forward(x)
    routing = pool.cache.routing
    assert isinstance(routing, MaxRouting)
    assert routing.x is None  # the index replaces x: backward is a scatter
    assert routing.index.shape == (2, 3, 3, 2)
    assert routing.index.dtype == np.intp
    pool.eval().forward(x)
    assert pool.cache.routing.index is None
    assert pool.cache.routing.x is x
