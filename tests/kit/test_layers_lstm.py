"""LSTM: gradients by finite differences (x, h0, c0, Wx, Wh, b), the gate equations step by
step in the documented order i, f, o, g, what saturated gates do, the forget-gate bias, carried
state and error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_gradients, check_layer
from backprop_kit.layers import LSTM


def make_lstm(d, h, seed=0, dtype=np.float64):
    """An LSTM with a random bias added to the initial one (forget gate at 1)."""
    rng = np.random.default_rng(seed)
    lstm = LSTM(d, h, rng=rng, dtype=dtype)
    lstm.params["b"][...] += 0.5 * rng.standard_normal(4 * h)
    return lstm


def check_with_initial_state(lstm, x, h0, c0, seed):
    """Gradient check of x, h0, c0 and every parameter, L = sum(dh * h), dh random."""

    def forward(x, h0, c0, **params):
        return lstm.forward(x, h0, c0)

    def backward(dh):
        dx = lstm.backward(dh)
        return {"x": dx, "h0": lstm.dh0, "c0": lstm.dc0, **lstm.grads}

    inputs = {"x": x, "h0": h0, "c0": c0, **lstm.params}
    return check_gradients(forward, backward, inputs, seed=seed)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_lstm_backward_matches_finite_differences_without_initial_state():
    rng = np.random.default_rng(1)
    lstm = make_lstm(4, 3)
    check_layer(lstm, rng.standard_normal((2, 5, 4)), seed=2).raise_if_failed()  # N2 T5 D4 H3


def test_lstm_gradients_of_x_h0_c0_and_parameters_match_finite_differences():
    rng = np.random.default_rng(3)
    lstm = make_lstm(3, 4, seed=1)
    x = rng.standard_normal((2, 5, 3))
    h0, c0 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    report = check_with_initial_state(lstm, x, h0, c0, seed=4)
    report.raise_if_failed()
    assert [array.name for array in report.arrays] == ["x", "h0", "c0", "Wx", "Wh", "b"]


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(1, 3),
    steps=st.integers(1, 4),
    d=st.integers(1, 3),
    h=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_lstm_gradients_are_right_for_all_small_shapes(n, steps, d, h, seed):
    rng = np.random.default_rng(seed)
    lstm = make_lstm(d, h, seed=seed)
    x = rng.standard_normal((n, steps, d))
    h0, c0 = rng.standard_normal((n, h)), rng.standard_normal((n, h))
    check_with_initial_state(lstm, x, h0, c0, seed=seed).raise_if_failed()


def test_lstm_forward_follows_the_gate_equations_in_order_i_f_o_g():
    rng = np.random.default_rng(0)
    lstm = make_lstm(3, 2)
    x = rng.standard_normal((2, 4, 3))
    h0, c0 = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    out = lstm.forward(x, h0, c0)
    Wx, Wh, b = lstm.params["Wx"], lstm.params["Wh"], lstm.params["b"]
    h, c = h0, c0
    for t in range(4):
        z = x[:, t] @ Wx + h @ Wh + b
        i, f, o = sigmoid(z[:, 0:2]), sigmoid(z[:, 2:4]), sigmoid(z[:, 4:6])
        g = np.tanh(z[:, 6:8])
        c = f * c + i * g
        h = o * np.tanh(c)
        np.testing.assert_allclose(out[:, t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lstm.last_state[0], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lstm.last_state[1], c, rtol=1e-12, atol=1e-12)


def test_open_forget_gate_and_closed_input_gate_keep_the_cell_unchanged():
    rng = np.random.default_rng(0)
    lstm = LSTM(3, 4, rng=rng)
    lstm.gate(lstm.params["b"], "f")[...] = 40.0  # f = 1
    lstm.gate(lstm.params["b"], "i")[...] = -40.0  # i = 0
    x, c0 = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 4))
    out = lstm.forward(x, None, c0)
    np.testing.assert_allclose(lstm.last_state[1], c0, rtol=1e-12, atol=1e-12)
    o = sigmoid(x[:, -1] @ lstm.gate(lstm.params["Wx"], "o")
                + out[:, -2] @ lstm.gate(lstm.params["Wh"], "o"))
    np.testing.assert_allclose(out[:, -1], o * np.tanh(c0), rtol=1e-10)


def test_closed_output_gate_gives_zero_output():
    rng = np.random.default_rng(0)
    lstm = LSTM(3, 4, rng=rng)
    lstm.gate(lstm.params["b"], "o")[...] = -40.0
    out = lstm.forward(rng.standard_normal((2, 5, 3)))
    assert np.abs(out).max() < 1e-15


def test_forget_gate_bias_starts_at_one_and_the_other_biases_at_zero():
    lstm = LSTM(5, 3, rng=np.random.default_rng(0))
    b = lstm.params["b"]
    assert b.shape == (12,)
    np.testing.assert_array_equal(lstm.gate(b, "f"), np.ones(3))
    for name in ("i", "o", "g"):
        np.testing.assert_array_equal(lstm.gate(b, name), np.zeros(3))
    assert LSTM.GATES == ("i", "f", "o", "g")
    custom = LSTM(5, 3, rng=np.random.default_rng(0), forget_bias=0.0)
    assert not custom.params["b"].any()
    assert lstm.params["Wx"].shape == (5, 12) and lstm.params["Wh"].shape == (3, 12)


def test_gate_returns_a_writable_view_and_rejects_unknown_names():
    lstm = LSTM(2, 3, rng=np.random.default_rng(0))
    view = lstm.gate(lstm.params["Wh"], "g")
    assert view.shape == (3, 3) and np.shares_memory(view, lstm.params["Wh"])
    with pytest.raises(ValueError, match=r"name must be one of \('i', 'f', 'o', 'g'\), got 'c'"):
        lstm.gate(lstm.params["b"], "c")


def test_carrying_last_state_over_two_calls_gives_the_states_of_one_call():
    rng = np.random.default_rng(0)
    lstm = make_lstm(3, 4)
    x = rng.standard_normal((2, 7, 3))
    whole = np.array(lstm.forward(x))
    first = np.array(lstm.forward(x[:, :4]))
    second = np.array(lstm.forward(x[:, 4:], *lstm.last_state))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-13)


def test_dh_total_at_the_last_step_is_the_upstream_gradient():
    rng = np.random.default_rng(0)
    lstm = make_lstm(3, 4)
    dh = rng.standard_normal((2, 5, 4))
    lstm.forward(rng.standard_normal((2, 5, 3)))
    lstm.backward(dh)
    assert lstm.dh_total.shape == (2, 5, 4)
    np.testing.assert_array_equal(lstm.dh_total[:, -1], dh[:, -1])
    assert not np.allclose(lstm.dh_total[:, 0], dh[:, 0])  # earlier steps add the future


def test_float32_lstm_keeps_float32():
    rng = np.random.default_rng(0)
    lstm = make_lstm(3, 4, dtype=np.float32)
    out = lstm.forward(rng.standard_normal((2, 5, 3)).astype(np.float32))
    dx = lstm.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == dx.dtype == lstm.dc0.dtype == lstm.grads["Wx"].dtype == np.float32


def test_lstm_errors_name_expected_and_actual_shapes():
    lstm = make_lstm(4, 5)
    with pytest.raises(ValueError, match=r"LSTM\(4 -> 5\)\.forward: x must have shape \(N, T, 4\)"):
        lstm.forward(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"c0 must have shape \(2, 5\), got \(5, 2\)"):
        lstm.forward(np.zeros((2, 3, 4)), None, np.zeros((5, 2)))
    lstm.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 3, 5\), got \(2, 3, 20\)"):
        lstm.backward(np.zeros((2, 3, 20)))
