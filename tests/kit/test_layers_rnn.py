"""RNN (tanh): gradients by finite differences (x, h0, Wx, Wh, b), the recurrence step by
step, dL/dh_t at every step, carried state, dtypes and error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_gradients, check_layer, numerical_gradient
from backprop_kit.layers import RNN


def make_rnn(d, h, seed=0, dtype=np.float64):
    """An RNN with a nonzero bias, so that db and the bias path are really tested."""
    rng = np.random.default_rng(seed)
    rnn = RNN(d, h, rng=rng, dtype=dtype)
    rnn.params["b"][...] = 0.5 * rng.standard_normal(h)
    return rnn


def check_with_initial_state(rnn, x, h0, seed):
    """Gradient check of x, h0 and every parameter, L = sum(dh * h) with a random dh."""

    def forward(x, h0, **params):
        return rnn.forward(x, h0)

    def backward(dh):
        dx = rnn.backward(dh)
        return {"x": dx, "h0": rnn.dh0, **rnn.grads}

    return check_gradients(forward, backward, {"x": x, "h0": h0, **rnn.params}, seed=seed)


def test_rnn_backward_matches_finite_differences_without_h0():
    rng = np.random.default_rng(1)
    rnn = make_rnn(4, 5)
    report = check_layer(rnn, rng.standard_normal((3, 6, 4)), seed=2)  # N3 T6 D4 H5
    report.raise_if_failed()
    assert {array.name for array in report.arrays} == {"x", "Wx", "Wh", "b"}


def test_rnn_gradients_of_x_h0_and_parameters_match_finite_differences():
    rng = np.random.default_rng(3)
    rnn = make_rnn(3, 4, seed=1)
    x, h0 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4))  # N2 T5 D3 H4
    report = check_with_initial_state(rnn, x, h0, seed=4)
    report.raise_if_failed()
    assert report["h0"].n_checked == h0.size


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 3),
    steps=st.integers(1, 5),
    d=st.integers(1, 4),
    h=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_rnn_gradients_are_right_for_all_small_shapes(n, steps, d, h, seed):
    rng = np.random.default_rng(seed)
    rnn = make_rnn(d, h, seed=seed)
    x, h0 = rng.standard_normal((n, steps, d)), rng.standard_normal((n, h))
    check_with_initial_state(rnn, x, h0, seed=seed).raise_if_failed()


def test_rnn_forward_is_the_tanh_recurrence_step_by_step():
    rng = np.random.default_rng(0)
    rnn = make_rnn(3, 4)
    x, h0 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4))
    out = rnn.forward(x, h0)
    assert out.shape == (2, 5, 4)
    Wx, Wh, b = rnn.params["Wx"], rnn.params["Wh"], rnn.params["b"]
    for n in range(2):
        state = h0[n]
        for t in range(5):
            state = np.tanh(
                [
                    sum(x[n, t, i] * Wx[i, j] for i in range(3))
                    + sum(state[k] * Wh[k, j] for k in range(4))
                    + b[j]
                    for j in range(4)
                ]
            )
            np.testing.assert_allclose(out[n, t], state, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rnn.last_state, out[:, -1])


def test_missing_h0_means_zeros():
    rng = np.random.default_rng(0)
    rnn = make_rnn(3, 4)
    x = rng.standard_normal((2, 5, 3))
    np.testing.assert_array_equal(rnn.forward(x), rnn.forward(x, np.zeros((2, 4))))


def test_dh_total_is_the_gradient_reaching_each_state_from_all_later_steps():
    rng = np.random.default_rng(5)
    rnn = make_rnn(3, 4)
    x, h0 = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 4))
    dh = rng.standard_normal((2, 6, 4))
    states = np.array(rnn.forward(x, h0))
    rnn.backward(dh)
    recorded = np.array(rnn.dh_total)
    for t in range(6):

        def loss_through_h_t(h_t, t=t):
            # L as a function of h_t alone: its own term plus everything run from it.
            later = 0.0
            if t + 1 < 6:
                later = np.sum(dh[:, t + 1 :] * make_rnn(3, 4).forward(x[:, t + 1 :], h_t))
            return np.sum(dh[:, t] * h_t) + later

        numerical = numerical_gradient(loss_through_h_t, states[:, t].copy())
        np.testing.assert_allclose(recorded[:, t], numerical, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(recorded[:, -1], dh[:, -1], rtol=0, atol=0)


def test_carrying_last_state_over_two_calls_gives_the_states_of_one_call():
    rng = np.random.default_rng(0)
    rnn = make_rnn(3, 4)
    x, h0 = rng.standard_normal((2, 7, 3)), rng.standard_normal((2, 4))
    whole = np.array(rnn.forward(x, h0))
    first = np.array(rnn.forward(x[:, :3], h0))
    second = np.array(rnn.forward(x[:, 3:], rnn.last_state))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-14)


def test_backward_overwrites_the_gradient_arrays_instead_of_accumulating():
    rng = np.random.default_rng(0)
    rnn = make_rnn(3, 4)
    x, dh = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    arrays = {name: grad for name, grad in rnn.grads.items()}
    rnn.forward(x)
    rnn.backward(dh)
    first = {name: grad.copy() for name, grad in rnn.grads.items()}
    rnn.forward(x)
    rnn.backward(dh)
    for name, grad in rnn.grads.items():
        assert grad is arrays[name]
        np.testing.assert_array_equal(grad, first[name])


def test_forward_output_is_read_only_and_the_input_is_not_modified():
    rng = np.random.default_rng(0)
    rnn = make_rnn(3, 4)
    x = rng.standard_normal((2, 5, 3))
    before = x.copy()
    out = rnn.forward(x)
    with pytest.raises(ValueError, match="read-only"):
        out[0, 0, 0] = 1.0
    rnn.backward(np.ones_like(out))
    np.testing.assert_array_equal(x, before)


def test_float32_layer_keeps_float32_and_agrees_with_float64():
    rng = np.random.default_rng(0)
    rnn64, rnn32 = make_rnn(3, 4, seed=2), make_rnn(3, 4, seed=2, dtype=np.float32)
    x, dh = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    out32 = rnn32.forward(x.astype(np.float32))
    dx32 = rnn32.backward(dh.astype(np.float32))
    assert out32.dtype == dx32.dtype == rnn32.grads["Wh"].dtype == rnn32.dh0.dtype == np.float32
    np.testing.assert_allclose(out32, rnn64.forward(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx32, rnn64.backward(dh), rtol=1e-4, atol=1e-5)


def test_initial_weights_are_glorot_uniform_and_the_bias_zero():
    rnn = RNN(300, 200, rng=np.random.default_rng(0))
    assert rnn.params["Wx"].shape == (300, 200) and rnn.params["Wh"].shape == (200, 200)
    assert abs(rnn.params["Wx"].var() / (2 / 500) - 1) < 0.03
    assert abs(rnn.params["Wh"].var() / (2 / 400) - 1) < 0.03
    assert not rnn.params["b"].any()
    assert repr(rnn) == "RNN(300 -> 200)"


def test_rnn_errors_name_expected_and_actual_shapes_and_dtypes():
    rnn = make_rnn(4, 5)
    with pytest.raises(ValueError, match=r"RNN\(4 -> 5\)\.forward: x must have shape \(N, T, 4\)"
                       r", got \(2, 3, 6\)"):
        rnn.forward(np.zeros((2, 3, 6)))
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, 4\), got \(2, 4\)"):
        rnn.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5\), got \(2, 4\)"):
        rnn.forward(np.zeros((2, 3, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"at least one step, got shape \(2, 0, 4\)"):
        rnn.forward(np.zeros((2, 0, 4)))
    with pytest.raises(TypeError, match=r"x must be a floating-point array .* got dtype int64"):
        rnn.forward(np.zeros((2, 3, 4), dtype=np.int64))
    with pytest.raises(TypeError, match=r"x is float32 but the layer's parameters are float64"):
        rnn.forward(np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(TypeError, match=r"h0 is float32 but the layer's parameters are float64"):
        rnn.forward(np.zeros((2, 3, 4)), np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        rnn.backward(np.zeros((2, 3, 5)))
    rnn.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 3, 5\), got \(3, 2, 5\)"):
        rnn.backward(np.zeros((3, 2, 5)))


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ((0, 5), r"RNN: input_size must be a positive integer, got 0"),
        ((4, 2.5), r"RNN: hidden_size must be a positive integer, got 2.5"),
        ((True, 5), r"RNN: input_size must be a positive integer, got True"),
    ],
)
def test_bad_sizes_raise_value_error(sizes, message):
    with pytest.raises(ValueError, match=message):
        RNN(*sizes, rng=np.random.default_rng(0))
