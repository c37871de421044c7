"""Conv2D: finite differences, agreement with the naive loops, buffers, dtypes, error messages.

The fast kernels' equality with the readable functions is tested in test_fast_kernels.py; the
finite-difference checks here run both (``fast=True``, the default, and ``fast=False``).
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import Conv2D
from backprop_kit.layers.conv import conv2d_backward, conv2d_forward
from backprop_kit.layers.naive import conv2d_backward_loops, conv2d_forward_loops


def make_conv(c, f, kernel, stride=1, padding=0, seed=0, **kwargs):
    """A Conv2D with a nonzero bias, so that the bias gradient is really tested."""
    rng = np.random.default_rng(seed)
    layer = Conv2D(c, f, kernel, stride=stride, padding=padding, rng=rng, **kwargs)
    layer.params["b"][...] = rng.standard_normal(f).astype(layer.params["b"].dtype)
    return layer


# (N, C, H, W, F, kernel, stride, padding): non-square images and kernels, C != F, N >= 2.
GRADCHECK_CONFIGS = [
    pytest.param(2, 3, 7, 6, 4, 3, 1, 0, id="3x3"),
    pytest.param(2, 2, 7, 9, 3, 3, 2, 1, id="stride2-pad1"),
    pytest.param(3, 2, 6, 5, 3, (3, 2), 1, 2, id="kernel3x2-pad2"),
    pytest.param(2, 3, 8, 7, 2, (2, 3), (2, 1), (0, 1), id="pairs"),
    pytest.param(2, 1, 5, 4, 3, 1, 1, 0, id="1x1"),
]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
@pytest.mark.parametrize(("n", "c", "h", "w", "f", "kernel", "stride", "padding"),
                         GRADCHECK_CONFIGS)
def test_conv_backward_matches_finite_differences(n, c, h, w, f, kernel, stride, padding, fast):
    rng = np.random.default_rng(1)
    layer = make_conv(c, f, kernel, stride, padding, fast=fast)
    report = check_layer(layer, rng.standard_normal((n, c, h, w)), seed=2)
    report.raise_if_failed()
    assert {array.name for array in report.arrays} == {"x", "W", "b"}


def test_conv_with_xavier_init_passes_the_gradient_check_too():
    layer = make_conv(2, 3, 3, stride=2, padding=1, init="xavier")
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 7))
    check_layer(layer, x, seed=4).raise_if_failed()


@st.composite
def conv_problems(draw, max_size=3):
    """A valid convolution geometry with random data: kernel, stride, padding per axis."""
    n, c, f = (draw(st.integers(1, max_size)) for _ in range(3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    out = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    # Choose the output size, then the input size that gives it exactly.
    size = tuple(
        (o - 1) * s + k - 2 * p for o, s, k, p in zip(out, stride, kernel, padding, strict=True)
    )
    assume(min(size) >= 1)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *size))
    W = rng.standard_normal((f, c, *kernel))
    b = rng.standard_normal(f)
    dy = rng.standard_normal((n, f, *out))
    return x, W, b, dy, stride, padding


@settings(max_examples=40, deadline=None)
@given(problem=conv_problems())
def test_vectorized_conv_equals_the_loops_in_float64(problem):
    x, W, b, dy, stride, padding = problem
    y = conv2d_forward(x, W, b, stride, padding)
    np.testing.assert_allclose(y, conv2d_forward_loops(x, W, b, stride, padding),
                               rtol=1e-12, atol=1e-12)
    for got, want in zip(conv2d_backward(dy, x, W, stride, padding),
                         conv2d_backward_loops(dy, x, W, stride, padding), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(problem=conv_problems())
def test_vectorized_conv_in_float32_agrees_with_the_float64_loops(problem):
    x, W, b, dy, stride, padding = (a.astype(np.float32) if isinstance(a, np.ndarray) else a
                                    for a in problem)
    wide = [a.astype(np.float64) for a in (x, W, b, dy)]
    y = conv2d_forward(x, W, b, stride, padding)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, conv2d_forward_loops(*wide[:3], stride, padding),
                               rtol=1e-4, atol=1e-5)
    loops = conv2d_backward_loops(wide[3], wide[0], wide[1], stride, padding)
    for got, want in zip(conv2d_backward(dy, x, W, stride, padding), loops, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_readable_layer_and_pure_functions_give_the_same_numbers():
    rng = np.random.default_rng(0)
    layer = make_conv(3, 4, (3, 2), stride=(2, 1), padding=1, fast=False)
    x = rng.standard_normal((2, 3, 7, 6))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    W, b = layer.params["W"], layer.params["b"]
    np.testing.assert_array_equal(y, conv2d_forward(x, W, b, (2, 1), 1))
    dx_f, dW_f, db_f = conv2d_backward(dy, x, W, (2, 1), 1)
    np.testing.assert_array_equal(dx, dx_f)
    np.testing.assert_array_equal(layer.grads["W"], dW_f)
    np.testing.assert_array_equal(layer.grads["b"], db_f)


def test_a_single_output_entry_is_the_window_dot_product_plus_bias():
    rng = np.random.default_rng(0)
    layer = make_conv(2, 3, 3, stride=2, padding=1)
    x = rng.standard_normal((2, 2, 5, 5))
    y = layer.forward(x)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    # y[1, 2, 1, 0] covers padded rows 2..4 and columns 0..2.
    expected = np.sum(padded[1, :, 2:5, 0:3] * layer.params["W"][2]) + layer.params["b"][2]
    np.testing.assert_allclose(y[1, 2, 1, 0], expected, rtol=1e-12)
    assert y.shape == (2, 3, 3, 3)


def test_gradient_checker_catches_a_conv_with_a_planted_bug():
    class FlippedKernelGradient(Conv2D):
        """Planted bug: dW comes out with its kernel rotated by 180 degrees."""

        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"][...] = self.grads["W"][:, :, ::-1, ::-1].copy()
            return dx

    rng = np.random.default_rng(0)
    layer = FlippedKernelGradient(2, 3, 3, padding=1, rng=rng)
    report = check_layer(layer, rng.standard_normal((2, 2, 5, 4)), seed=1)
    assert not report["W"].passed
    assert report["x"].passed and report["b"].passed


def test_outputs_and_gradients_are_not_overwritten_by_later_calls():
    rng = np.random.default_rng(0)
    layer = make_conv(2, 3, 3, padding=1)
    x1, x2 = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((2, 2, 6, 5))
    y1 = layer.forward(x1)
    dy1 = rng.standard_normal(y1.shape)
    dx1 = layer.backward(dy1)
    y1_copy, dx1_copy = y1.copy(), dx1.copy()
    grad_W = layer.grads["W"]
    layer.backward(layer.forward(x2))
    np.testing.assert_array_equal(y1, y1_copy)
    np.testing.assert_array_equal(dx1, dx1_copy)
    assert layer.grads["W"] is grad_W  # written in place, as the optimizers expect


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
def test_batches_of_different_sizes_reuse_the_layer_correctly(fast):
    rng = np.random.default_rng(0)
    layer = make_conv(2, 3, 3, stride=2, padding=1, fast=fast)
    W, b = layer.params["W"], layer.params["b"]
    for shape in [(3, 2, 7, 5), (1, 2, 5, 9), (3, 2, 7, 5)]:
        x = rng.standard_normal(shape)
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(dy)
        np.testing.assert_allclose(y, conv2d_forward_loops(x, W, b, 2, 1), rtol=1e-12)
        dx_loops, dW_loops, _ = conv2d_backward_loops(dy, x, W, 2, 1)
        np.testing.assert_allclose(dx, dx_loops, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.grads["W"], dW_loops, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
def test_a_new_input_shape_with_the_same_column_count_leaves_no_stale_padding(fast):
    # Regression: (1, 1, 8, 4) and (2, 1, 4, 4) with a 3x3 kernel and padding 1 both give
    # an im2col buffer (10, 32), but with the padding in other columns; reusing the first
    # one's buffer left its input values where the second has zeros (y off by up to 1.9).
    rng = np.random.default_rng(11)
    layer = make_conv(1, 2, 3, padding=1, fast=fast)
    W, b = layer.params["W"], layer.params["b"]
    for shape in [(1, 1, 8, 4), (2, 1, 4, 4)]:
        x = rng.standard_normal(shape) + 3.0  # far from zero, so a stale entry shows
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(dy)
        dx_loops, dW_loops, db_loops = conv2d_backward_loops(dy, x, W, 1, 1)
        np.testing.assert_allclose(y, conv2d_forward_loops(x, W, b, 1, 1), rtol=1e-12)
        np.testing.assert_allclose(dx, dx_loops, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.grads["W"], dW_loops, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.grads["b"], db_loops, rtol=1e-12, atol=1e-12)


def test_input_grad_false_skips_dx_but_keeps_parameter_gradients():
    rng = np.random.default_rng(0)
    full = make_conv(2, 3, 3, padding=1, seed=5)
    first = make_conv(2, 3, 3, padding=1, seed=5, input_grad=False)
    x = rng.standard_normal((2, 2, 4, 6))
    dy = rng.standard_normal((2, 3, 4, 6))
    full.forward(x)
    first.forward(x)
    assert full.backward(dy) is not None
    assert first.backward(dy) is None
    for name in ("W", "b"):
        np.testing.assert_array_equal(first.grads[name], full.grads[name])
    assert conv2d_backward(dy, x, full.params["W"], 1, 1, input_grad=False)[0] is None


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
def test_float32_layer_keeps_float32_end_to_end(fast):
    rng = np.random.default_rng(0)
    layer = make_conv(3, 2, 3, padding=1, dtype=np.float32, fast=fast)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["W"].dtype == layer.grads["b"].dtype == np.float32
    W64, b64 = (layer.params[k].astype(np.float64) for k in ("W", "b"))
    np.testing.assert_allclose(y, conv2d_forward_loops(x.astype(np.float64), W64, b64, 1, 1),
                               rtol=1e-5, atol=1e-5)


def test_forward_and_backward_do_not_modify_their_inputs():
    rng = np.random.default_rng(0)
    layer = make_conv(2, 3, 3, stride=2, padding=2)
    x = rng.standard_normal((2, 2, 5, 7))
    x_before = x.copy()
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dy_before = dy.copy()
    layer.backward(dy)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)


def test_non_contiguous_input_gives_the_same_result():
    rng = np.random.default_rng(0)
    layer = make_conv(3, 2, 3, padding=1)
    x = rng.standard_normal((2, 5, 6, 3)).transpose(0, 3, 1, 2)  # (2, 3, 5, 6), not C-ordered
    np.testing.assert_allclose(layer.forward(x), layer.forward(np.ascontiguousarray(x)),
                               rtol=1e-14)


def test_he_init_uses_fan_in_c_times_kh_times_kw_and_zero_bias():
    layer = Conv2D(32, 64, (3, 5), rng=np.random.default_rng(0))
    assert layer.params["W"].shape == (64, 32, 3, 5)
    assert abs(layer.params["W"].var() / (2 / (32 * 15)) - 1) < 0.03
    assert not layer.params["b"].any()
    xavier = Conv2D(32, 64, (3, 5), rng=np.random.default_rng(0), init="xavier")
    assert abs(xavier.params["W"].var() / (2 / (32 * 15 + 64 * 15)) - 1) < 0.03


def test_repr_names_channels_and_window():
    assert repr(Conv2D(3, 8, 3, padding=1, rng=np.random.default_rng(0))) == (
        "Conv2D(3 -> 8, 3x3, padding 1)"
    )
    layer = Conv2D(1, 4, (3, 2), stride=(2, 1), rng=np.random.default_rng(0))
    assert repr(layer) == "Conv2D(1 -> 4, 3x2, stride (2, 1))"


def test_mismatched_channels_name_expected_and_actual_shapes():
    layer = Conv2D(3, 8, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, H, W\), got \(2, 4, 8, 8\)"):
        layer.forward(np.zeros((2, 4, 8, 8)))
    W = np.zeros((8, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_forward: x must have shape \(N, 3, H, W\)"):
        conv2d_forward(np.zeros((2, 4, 8, 8)), W, np.zeros(8))
    with pytest.raises(ValueError, match=r"b must have shape \(8,\), got \(7,\)"):
        conv2d_forward(np.zeros((2, 3, 8, 8)), W, np.zeros(7))


def test_wrong_number_of_axes_is_rejected():
    layer = Conv2D(1, 2, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, H, W\), got \(28, 28\)"):
        layer.forward(np.zeros((28, 28)))
    with pytest.raises(ValueError, match=r"got \(2, 1, 1, 28, 28\)"):
        layer.forward(np.zeros((2, 1, 1, 28, 28)))


def test_kernel_larger_than_padded_input_is_rejected():
    layer = Conv2D(1, 2, 5, padding=1, rng=np.random.default_rng(0))
    message = r"kernel height 5 is larger than the padded input height 4 \(= 2 \+ 2 \* padding 1\)"
    with pytest.raises(ValueError, match=message):
        layer.forward(np.zeros((1, 1, 2, 9)))


def test_non_integer_output_size_is_rejected_with_the_arithmetic():
    layer = Conv2D(1, 2, 3, stride=2, rng=np.random.default_rng(0))
    message = (r"output width \(input 8 \+ 2 \* padding 0 - kernel 3\) / stride 2 \+ 1 = 3\.5 "
               r"is not an integer")
    with pytest.raises(ValueError, match=message):
        layer.forward(np.zeros((1, 1, 7, 8)))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "readable"])
@pytest.mark.parametrize(("params", "other"), [(np.float64, np.float32), (np.float32, np.float64)],
                         ids=["float64-params", "float32-params"])
def test_every_gradient_has_the_dtype_of_its_array_with_dy_of_the_other_dtype(params, other,
                                                                                fast):
    # The dtype rule: dx has the dtype of x, dW and db those of W and b. x must come in the
    # parameters' dtype (a mixed call says how to fix it instead of casting); dy of another
    # float dtype is taken in that dtype.
    rng = np.random.default_rng(0)
    layer = make_conv(2, 3, 3, padding=1, dtype=params, fast=fast)
    p, o = np.dtype(params).name, np.dtype(other).name
    with pytest.raises(TypeError, match=rf"x is {o} but the layer's parameters are {p}; pass "
                                        rf"x\.astype\(np\.{p}\) or build the layer with "
                                        rf"dtype=np\.{o}"):
        layer.forward(np.zeros((1, 2, 5, 4), dtype=other))
    x = rng.integers(-3, 4, (2, 2, 5, 4)).astype(params)  # whole numbers: exact in both dtypes
    y = layer.forward(x)
    dy = rng.integers(-3, 4, y.shape).astype(other)
    dx = layer.backward(dy)
    assert y.dtype == dx.dtype == layer.grads["W"].dtype == layer.grads["b"].dtype == params
    W, b = (layer.params[k].astype(np.float64) for k in ("W", "b"))
    expected = conv2d_backward_loops(dy.astype(np.float64), x.astype(np.float64), W, 1, 1)
    for got, want in zip((dx, layer.grads["W"], layer.grads["b"]), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    for got in conv2d_backward(dy, x, layer.params["W"], 1, 1):
        assert got.dtype == params
    with pytest.raises(TypeError, match=rf"conv2d_forward: x is {o} but"):
        conv2d_forward(x.astype(other), layer.params["W"], layer.params["b"])
    with pytest.raises(TypeError, match=rf"conv2d_forward: b is {o} but"):
        conv2d_forward(x, layer.params["W"], layer.params["b"].astype(other))


def test_dtype_errors_say_how_to_fix_them():
    layer = Conv2D(1, 2, 3, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"x must be a floating-point array .* got dtype int64"):
        layer.forward(np.zeros((1, 1, 5, 5), dtype=np.int64))


def test_backward_checks_dy_shape_and_order():
    layer = Conv2D(1, 2, 3, rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        layer.backward(np.zeros((1, 2, 3, 3)))
    layer.forward(np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 2, 3, 3\), got \(1, 2, 5, 5\)"):
        layer.backward(np.zeros((1, 2, 5, 5)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel_size": 0}, r"kernel_size must be an integer >= 1 .* got 0"),
        ({"kernel_size": (3, 0)}, r"kernel_size must be an integer >= 1"),
        ({"kernel_size": 3, "stride": 0}, r"stride must be an integer >= 1"),
        ({"kernel_size": 3, "padding": -1}, r"padding must be an integer >= 0"),
        ({"kernel_size": 2.5}, r"kernel_size must be an integer >= 1"),
        ({"kernel_size": 3, "init": "glorot"}, r"init must be one of"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conv2D(2, 3, rng=np.random.default_rng(0), **kwargs)
    with pytest.raises(ValueError, match=r"in_channels must be a positive integer, got 0"):
        Conv2D(0, 3, 3, rng=np.random.default_rng(0))

