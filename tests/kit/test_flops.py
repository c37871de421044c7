"""Cost counting: multiply-adds by formula and as counted, and forward calls of finite differences.

The claim behind notebook 11's FLOP plot: a Linear stack's backward does exactly twice the
multiply-adds of its forward (dW and dx are one matrix product each), and finite differences
need 2P forward passes for P parameters (the kit's checker one more, for its kink test).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.flops import CallCounter, MacCounter, linear_macs, stack_macs
from backprop_kit.gradcheck import numerical_gradient
from backprop_kit.layers import Dropout, Linear, ReLU, Residual, Sequential, Tanh


def counted_forward_backward(model, x, dy):
    """(forward, backward) multiply-adds that MacCounter sees the model perform."""
    counter = MacCounter()
    model.forward(counter.track(x))
    forward = counter.macs
    model.backward(counter.track(dy))
    return forward, counter.macs - forward


def test_linear_macs_of_a_small_layer_worked_by_hand():
    # y = x @ W with x (4, 5), W (5, 7): 4 * 7 outputs, each a sum of 5 products
    assert linear_macs(4, 5, 7) == (140, 280)
    assert linear_macs(4, 5, 7, input_grad=False) == (140, 140)
    assert linear_macs(1, 1, 1) == (1, 2)


@pytest.mark.parametrize(("args", "name"), [((0, 3, 2), "n"), ((2, 2.5, 2), "in_features"),
                                            ((2, 3, True), "out_features")])
def test_linear_macs_rejects_sizes_that_are_not_positive_integers(args, name):
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer"):
        linear_macs(*args)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "expected"),
    [((3, 4), (4, 5), 60), ((2, 3, 4), (4, 5), 120), ((4,), (4, 5), 20), ((3, 4), (4,), 12),
     ((4,), (4,), 4), ((2, 1, 3, 4), (5, 4, 2), 2 * 5 * 3 * 4 * 2)],
)
def test_mac_counter_counts_one_matrix_product_of_any_shape(a_shape, b_shape, expected):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    counter = MacCounter()
    product = counter.track(a) @ b
    assert counter.macs == expected
    np.testing.assert_array_equal(np.asarray(product), a @ b)
    counter_right = MacCounter()
    np.matmul(a, counter_right.track(b))  # the tracked array may be either operand
    assert counter_right.macs == expected


def test_mac_counter_counts_elementwise_work_as_nothing_and_follows_the_data():
    counter = MacCounter()
    a = counter.track(np.ones((3, 4)))
    b = np.tanh(a) * 2 + 1  # no matrix product
    assert counter.macs == 0
    b.T @ np.ones((3, 2))  # computed from a, so still tracked: (4, 3) @ (3, 2)
    assert counter.macs == 24


def test_mac_counter_refuses_products_it_would_not_count():
    counter = MacCounter()
    a = counter.track(np.ones((3, 4)))
    for product in (lambda: np.dot(a, np.ones((4, 2))), lambda: np.einsum("ij,jk", a, a.T),
                    lambda: np.tensordot(a, a, axes=([1], [1]))):
        with pytest.raises(TypeError, match="counts np.matmul and the @ operator only"):
            product()
    with pytest.raises(TypeError, match="needs a numpy array"):
        counter.track([1.0, 2.0])


def test_kit_linear_does_n_din_dout_forward_and_twice_that_backward():
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    assert counted_forward_backward(Linear(5, 3, rng=rng), x, dy) == (90, 180)
    first_layer = Linear(5, 3, rng=rng, input_grad=False)
    assert counted_forward_backward(first_layer, x, dy) == (90, 90)


def test_counting_changes_no_value_of_the_forward_or_the_gradients():
    rng = np.random.default_rng(1)
    model = Sequential(Linear(5, 8, rng=rng), Tanh(), Linear(8, 3, rng=rng))
    x, dy = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    y_plain = model.forward(x)
    dx_plain = model.backward(dy)
    grads_plain = {k: g.copy() for k, g in model.grads.items()}
    counter = MacCounter()
    y = model.forward(counter.track(x))
    dx = model.backward(counter.track(dy))
    np.testing.assert_array_equal(np.asarray(y), y_plain)
    np.testing.assert_array_equal(np.asarray(dx), dx_plain)
    for name, grad in model.grads.items():
        np.testing.assert_array_equal(grad, grads_plain[name])
        assert type(grad) is np.ndarray  # the layer's own arrays stay plain


def test_backward_of_a_linear_stack_costs_exactly_twice_its_forward_on_a_worked_example():
    rng = np.random.default_rng(2)
    model = Sequential(Linear(3, 4, rng=rng), ReLU(), Linear(4, 2, rng=rng), Tanh())
    x, dy = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    forward = 5 * 3 * 4 + 5 * 4 * 2  # 60 + 40
    assert counted_forward_backward(model, x, dy) == (forward, 2 * forward)
    assert stack_macs(model, 5) == (100, 200)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 6),
    sizes=st.lists(st.integers(1, 7), min_size=2, max_size=6),
    first_input_grad=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_stack_formula_equals_the_counted_multiply_adds_for_all_small_stacks(
    n, sizes, first_input_grad, seed
):
    rng = np.random.default_rng(seed)
    layers = []
    for index, (d_in, d_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(Linear(d_in, d_out, rng=rng, input_grad=first_input_grad or index > 0))
        layers.append([ReLU(), Tanh()][index % 2])
    model = Sequential(*layers)
    x, dy = rng.standard_normal((n, sizes[0])), rng.standard_normal((n, sizes[-1]))
    counted = counted_forward_backward(model, x, dy)
    assert counted == stack_macs(model, n)
    forward = sum(n * a * b for a, b in zip(sizes, sizes[1:], strict=False))
    skipped_dx = 0 if first_input_grad else n * sizes[0] * sizes[1]
    assert counted == (forward, 2 * forward - skipped_dx)


def test_stack_macs_reads_nested_sequentials_and_plain_lists():
    rng = np.random.default_rng(3)
    blocks = [Sequential(Linear(4, 4, rng=rng), Tanh()) for _ in range(3)]
    assert stack_macs(Sequential(*blocks, Dropout(0.5, rng=rng)), 2) == (96, 192)
    assert stack_macs(blocks, 2) == (96, 192)
    assert stack_macs([ReLU()], 2) == (0, 0)


def test_stack_macs_counts_the_layers_inside_a_residual_block():
    rng = np.random.default_rng(4)
    model = [Linear(3, 5, rng=rng), Residual(Sequential(Linear(5, 5, rng=rng), Tanh()))]
    # 2 * 3 * 5 forward for the first Linear and 2 * 5 * 5 for the one inside the block; the
    # backward is twice each (dW and dx).
    assert stack_macs(model, 2) == (80, 160)


def test_call_counter_counts_calls_and_passes_arguments_through():
    counter = CallCounter(lambda a, b=1: a + b)
    assert counter.calls == 0
    assert counter(2) == 3 and counter(2, b=5) == 7
    assert counter.calls == 2
    assert "calls=2" in repr(counter)
    with pytest.raises(TypeError, match="needs a function"):
        CallCounter(3)


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4), (2, 3, 2)])
def test_kit_numerical_gradient_makes_two_forward_calls_per_entry_plus_one(shape):
    # 2P centred differences, plus the one evaluation at x itself that the kink test uses
    x = np.random.default_rng(4).standard_normal(shape)
    loss = CallCounter(lambda v: float(np.sum(np.sin(v))))
    grad = numerical_gradient(loss, x)
    assert loss.calls == 2 * x.size + 1
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-8)
