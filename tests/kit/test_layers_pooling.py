"""MaxPool2D and AvgPool2D: finite differences, the loops, first-max routing, dtypes, errors.

The fast kernels' equality with the readable functions is tested in test_fast_kernels.py; the
finite-difference checks here run both (``fast=True``, the default, and ``fast=False``).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import AvgPool2D, MaxPool2D
from backprop_kit.layers.naive import (
    avgpool2d_backward_loops,
    avgpool2d_forward_loops,
    maxpool2d_backward_loops,
    maxpool2d_forward_loops,
)
from backprop_kit.layers.pooling import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

# (kernel_size, stride, input shape): tiling, overlapping, gapped, non-square.
WINDOWS = [
    pytest.param(2, None, (2, 3, 6, 4), id="2x2-tiling"),
    pytest.param(3, 1, (2, 2, 5, 6), id="3x3-stride1-overlapping"),
    pytest.param((2, 3), (3, 1), (3, 2, 8, 5), id="2x3-stride3x1"),
    pytest.param(2, 3, (2, 2, 5, 8), id="stride3-gaps"),
]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
@pytest.mark.parametrize(("kernel", "stride", "shape"), WINDOWS)
@pytest.mark.parametrize("layer_type", [MaxPool2D, AvgPool2D])
def test_pool_backward_matches_finite_differences(layer_type, kernel, stride, shape, fast):
    # Shuffled, evenly spaced values of both signs: entries differ by at least 0.1 >> h, so
    # no maximum switches place during the finite differences.
    size = int(np.prod(shape))
    x = (np.random.default_rng(0).permutation(size) - size / 2).reshape(shape) * 0.1
    report = check_layer(layer_type(kernel, stride, fast=fast), x, seed=1)
    report.raise_if_failed()
    assert [array.name for array in report.arrays] == ["x"]


@st.composite
def pool_problems(draw, ties=False):
    """A valid pooling geometry with random data; with ties, entries from {0, 1, 2}."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    out = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    size = tuple((o - 1) * s + k for o, s, k in zip(out, stride, kernel, strict=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.integers(0, 3, (n, c, *size)).astype(float) if ties else rng.standard_normal(
        (n, c, *size))
    dy = rng.standard_normal((n, c, *out))
    return x, dy, kernel, stride


@settings(max_examples=40, deadline=None)
@given(problem=st.one_of(pool_problems(), pool_problems(ties=True)))
def test_vectorized_maxpool_equals_the_loops_also_with_ties(problem):
    x, dy, kernel, stride = problem
    y = maxpool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, maxpool2d_forward_loops(x, kernel, stride))
    np.testing.assert_allclose(maxpool2d_backward(dy, x, kernel, stride),
                               maxpool2d_backward_loops(dy, x, kernel, stride), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(problem=pool_problems())
def test_vectorized_avgpool_equals_the_loops(problem):
    x, dy, kernel, stride = problem
    np.testing.assert_allclose(avgpool2d_forward(x, kernel, stride),
                               avgpool2d_forward_loops(x, kernel, stride), rtol=1e-12)
    np.testing.assert_allclose(avgpool2d_backward(dy, x.shape, kernel, stride),
                               avgpool2d_backward_loops(dy, x.shape, kernel, stride),
                               rtol=1e-12, atol=1e-15)


@settings(max_examples=20, deadline=None)
@given(problem=st.one_of(pool_problems(), pool_problems(ties=True)))
def test_float32_pooling_agrees_with_the_float64_loops(problem):
    x, dy, kernel, stride = problem
    x32, dy32 = x.astype(np.float32), dy.astype(np.float32)
    # The loops run in float64 on the same (float32-representable) numbers: same ties.
    x64, dy64 = x32.astype(np.float64), dy32.astype(np.float64)
    for layer, y_loops, dx_loops in [
        (MaxPool2D(kernel, stride), maxpool2d_forward_loops(x64, kernel, stride),
         maxpool2d_backward_loops(dy64, x64, kernel, stride)),
        (AvgPool2D(kernel, stride), avgpool2d_forward_loops(x64, kernel, stride),
         avgpool2d_backward_loops(dy64, x64.shape, kernel, stride)),
    ]:
        y = layer.forward(x32)
        dx = layer.backward(dy32)
        assert y.dtype == dx.dtype == np.float32
        np.testing.assert_allclose(y, y_loops, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(dx, dx_loops, rtol=1e-6, atol=1e-6)


def test_an_all_zero_window_sends_its_whole_gradient_to_the_first_position():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0] = [[0.0, 0.0, 1.0, 3.0],
               [0.0, 0.0, 3.0, 0.0]]  # window 0: four zeros; window 1: 3 twice
    pool = MaxPool2D(2)
    np.testing.assert_array_equal(pool.forward(x), [[[[0.0, 3.0]]]])
    dx = pool.backward(np.array([[[[5.0, 7.0]]]]))
    expected = [[5.0, 0.0, 0.0, 7.0],   # each window's dy at its first max, row by row
                [0.0, 0.0, 0.0, 0.0]]
    np.testing.assert_array_equal(dx[0, 0], expected)
    assert dx.sum() == 12.0  # no tie gets a second copy of the gradient


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
@pytest.mark.parametrize("make_pool", [MaxPool2D, lambda fast: MaxPool2D(fast=fast).eval(),
                                       lambda fast: MaxPool2D(3, 1, fast=fast), AvgPool2D],
                         ids=["max-train", "max-eval", "max-3x3", "avg"])
def test_an_empty_batch_pools_to_an_empty_batch(make_pool, fast):
    pool = make_pool(fast=fast)
    y = pool.forward(np.zeros((0, 2, 4, 4)))
    assert y.shape == (0, 2, 2, 2)
    assert pool.backward(np.zeros(y.shape)).shape == (0, 2, 4, 4)


def test_the_pure_backward_functions_check_dy():
    x = np.zeros((1, 2, 4, 6))
    with pytest.raises(ValueError, match=r"maxpool2d_backward: dy must have shape "
                                         r"\(1, 2, 2, 3\), got \(1, 2, 3, 2\)"):
        maxpool2d_backward(np.zeros((1, 2, 3, 2)), x)
    with pytest.raises(TypeError, match=r"avgpool2d_backward: dy must be a floating-point"):
        avgpool2d_backward(np.zeros((1, 2, 2, 3), dtype=int), x.shape)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 1)], ids=["2x2", "3x3-stride1"])
@pytest.mark.parametrize(("x_dtype", "dy_dtype"), [(np.float32, np.float64),
                                                   (np.float64, np.float32)],
                         ids=["x32-dy64", "x64-dy32"])
@pytest.mark.parametrize("layer_type", [MaxPool2D, AvgPool2D])
def test_dx_has_the_dtype_of_x_whatever_the_dtype_of_dy(layer_type, x_dtype, dy_dtype, kernel,
                                                         stride, training, fast):
    # The rule of the layer contract: a gradient has the dtype of the array it is the
    # gradient of (no silent float64 -> float32 or float32 -> float64 on the way back).
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 3, 6, 4)).astype(x_dtype)  # whole numbers: ties, exact in both
    pool = layer_type(kernel, stride, fast=fast).train(training)
    y = pool.forward(x)
    assert y.dtype == x_dtype
    dy = rng.standard_normal(y.shape).astype(dy_dtype)
    dx = pool.backward(dy)
    assert dx.dtype == x_dtype
    wide = (x.astype(np.float64), dy.astype(np.float64))
    expected = (maxpool2d_backward_loops(*wide[::-1], kernel, stride) if layer_type is MaxPool2D
                else avgpool2d_backward_loops(wide[1], x.shape, kernel, stride))
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-6)
    if layer_type is MaxPool2D:
        assert maxpool2d_backward(dy, x, kernel, stride).dtype == x_dtype


def test_overlapping_windows_of_zeros_each_route_to_their_own_first_entry():
    x = np.zeros((1, 1, 3, 3))
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # 2x2 windows, stride 1: four windows
    pool = MaxPool2D(2, stride=1)
    pool.forward(x)
    expected = [[1.0, 2.0, 0.0],
                [3.0, 4.0, 0.0],
                [0.0, 0.0, 0.0]]
    np.testing.assert_array_equal(pool.backward(dy)[0, 0], expected)


def test_overlapping_windows_sharing_a_max_add_their_gradients():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0  # the centre is the max of all four 2x2 windows
    pool = MaxPool2D(2, stride=1)
    pool.forward(x)
    dx = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert dx[0, 0, 1, 1] == 10.0
    assert np.count_nonzero(dx) == 1


def test_avgpool_spreads_each_gradient_evenly():
    pool = AvgPool2D((1, 2))
    x = np.arange(8.0).reshape(1, 2, 1, 4)
    np.testing.assert_array_equal(pool.forward(x)[0, :, 0], [[0.5, 2.5], [4.5, 6.5]])
    dx = pool.backward(np.array([[[[2.0, 4.0]], [[6.0, 8.0]]]]))
    np.testing.assert_array_equal(dx[0, :, 0], [[1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0]])


def test_stride_defaults_to_the_kernel_size():
    assert MaxPool2D(3).window.stride == (3, 3)
    assert AvgPool2D((2, 3)).window.stride == (2, 3)
    assert MaxPool2D(3, stride=1).window.stride == (1, 1)
    assert repr(MaxPool2D()) == "MaxPool2D(2x2, stride 2)"
    assert repr(AvgPool2D(3, 1)) == "AvgPool2D(3x3)"


def test_pooling_does_not_modify_its_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 4))
    dy = rng.standard_normal((2, 3, 3, 2))
    before = x.copy(), dy.copy()
    for pool in (MaxPool2D(), AvgPool2D()):
        pool.forward(x)
        pool.backward(dy)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(dy, before[1])


@pytest.mark.parametrize("layer_type", [MaxPool2D, AvgPool2D])
def test_pool_input_errors_name_expected_and_actual(layer_type):
    pool = layer_type(2)
    name = layer_type.__name__
    with pytest.raises(ValueError, match=rf"{name}\(2x2, stride 2\)\.forward: x must have shape "
                                         r"\(N, C, H, W\), got \(6, 4\)"):
        pool.forward(np.zeros((6, 4)))
    with pytest.raises(TypeError, match=r"x must be a floating-point array .* got dtype int64"):
        pool.forward(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"output height \(input 7 \+ 2 \* padding 0 - kernel 2\) "
                                         r"/ stride 2 \+ 1 = 3\.5 is not an integer"):
        pool.forward(np.zeros((1, 1, 7, 4)))
    with pytest.raises(ValueError, match=r"kernel width 2 is larger than the padded input width 1"):
        pool.forward(np.zeros((1, 1, 4, 1)))
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        pool.backward(np.zeros((1, 1, 2, 2)))
    pool.forward(np.zeros((1, 1, 4, 6)))
    with pytest.raises(ValueError, match=r"dy must .*\(1, 1, 2, 3\), got \(1, 1, 3, 2\)"):
        pool.backward(np.zeros((1, 1, 3, 2)))


def test_bad_pool_arguments_raise_value_error():
    with pytest.raises(ValueError, match=r"MaxPool2D: kernel_size must be an integer >= 1"):
        MaxPool2D(0)
    with pytest.raises(ValueError, match=r"AvgPool2D: stride must be an integer >= 1"):
        AvgPool2D(2, stride=(1, 0))

