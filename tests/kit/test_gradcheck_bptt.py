"""The BPTT bug localizer: it passes correct recurrent code (kit layers, step functions,
sequence functions) and, for each classic planted bug, names the right time step and the
right kind of mistake."""

from functools import partial

import numpy as np
import pytest

from backprop_kit.gradcheck import (
    BPTTReport,
    GradientCheckError,
    SequenceFunctions,
    StepFunctions,
    check_bptt,
)
from backprop_kit.layers import LSTM, RNN, Linear

N, T, D, H = 2, 5, 3, 4


# ----------------------------------------------------------------------------------------
# A student's RNN, written here from the equations, with switches that plant bugs


def step_forward(x_t, h_prev, Wx, Wh, b):
    a = x_t @ Wx + h_prev @ Wh + b
    h = np.tanh(a)
    return h, (x_t, h_prev, a, h, Wx, Wh)


def step_backward(dh_t, cache, bug=None):
    x_t, h_prev, a, h, Wx, Wh = cache
    local = 1 - a * a if bug == "tanh' from the pre-activation" else 1 - h * h
    da = dh_t * local
    dh_prev = da @ (Wh if bug == "Wh not transposed" else Wh.T)
    return da @ Wx.T, dh_prev, x_t.T @ da, h_prev.T @ da, da.sum(axis=0)


def sequence_forward(x, h0, Wx, Wh, b):
    h, states, caches = h0, [], []
    for t in range(x.shape[1]):
        h, cache = step_forward(x[:, t], h, Wx, Wh, b)
        states.append(h)
        caches.append(cache)
    return np.stack(states, axis=1), caches


def sequence_backward(dh, caches, bug=None):
    dx = [None] * len(caches)
    dWx, dWh, db = 0.0, 0.0, 0.0
    carried = np.zeros_like(dh[:, 0])
    for t in range(len(caches) - 1, -1, -1):
        upstream = dh[:, t] if bug == "no recurrent term" else dh[:, t] + carried
        dx[t], carried, dWx_t, dWh_t, db_t = step_backward(upstream, caches[t])
        dWx, db = dWx + dWx_t, db + db_t
        dWh = dWh_t if bug == "dWh overwritten" else dWh + dWh_t
    return np.stack(dx, axis=1), carried, dWx, dWh, db


def data(seed=0):
    """Parameters large enough that the pre-activations are far from 0 (tanh is not linear)."""
    rng = np.random.default_rng(seed)
    params = {
        "Wx": rng.standard_normal((D, H)),
        "Wh": 0.7 * rng.standard_normal((H, H)),
        "b": rng.standard_normal(H),
    }
    return params, rng.standard_normal((N, T, D)), rng.standard_normal((N, H))


def steps_model(params, bug=None):
    return StepFunctions(step_forward, partial(step_backward, bug=bug), params)


def sequence_model(params, bug=None):
    return SequenceFunctions(sequence_forward, partial(sequence_backward, bug=bug), params)


# ----------------------------------------------------------------------------------------
# Correct code passes


def test_correct_step_and_sequence_functions_pass_at_every_step():
    params, x, h0 = data()
    for model in (steps_model(params), sequence_model(params)):
        report = check_bptt(model, x, h0, seed=1)
        report.raise_if_failed()
        assert report.first_bad_step is None and report.first_bad_dh is None
        assert report.hint is None
        assert [row.t for row in report.rows] == [4, 3, 2, 1, 0]
        assert sorted(report.dh_errors()) == [-1, 0, 1, 2, 3]


def test_kit_rnn_passes_with_and_without_h0():
    rng = np.random.default_rng(2)
    rnn = RNN(D, H, rng=rng)
    rnn.params["b"][...] = rng.standard_normal(H)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    check_bptt(rnn, x, h0).raise_if_failed()
    report = check_bptt(rnn, x)
    report.raise_if_failed()
    assert report.state_names == ("h0",)
    assert [array.name for array in report.full.arrays] == ["x", "h0", "Wx", "Wh", "b"]


def test_kit_lstm_passes_with_its_two_states():
    rng = np.random.default_rng(3)
    lstm = LSTM(2, 3, rng=rng)
    x = rng.standard_normal((2, 4, 2))
    state = (rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    report = check_bptt(lstm, x, state)
    report.raise_if_failed()
    assert report.state_names == ("h0", "c0")
    assert "dc[t-1]" in str(report)


def test_the_t0_row_checks_the_gradient_of_the_initial_state():
    params, x, h0 = data()
    report = check_bptt(sequence_model(params), x, h0)
    assert report.full["h0"].n_checked == h0.size
    assert report.full["x"].shape == x.shape


# ----------------------------------------------------------------------------------------
# Planted bugs: each one is named with its time step


def test_wrong_transpose_of_wh_is_wrong_from_the_last_step_in_dh_only():
    params, x, h0 = data()
    report = check_bptt(steps_model(params, "Wh not transposed"), x, h0)
    assert not report.passed
    assert report.first_bad_step == T - 1
    assert report.rows[0].failed() == ["h0"]  # dx and the parameters of one step are right
    assert report.first_bad_dh == T - 2  # dL/dh_{T-1} is right, dL/dh_{T-2} is not
    assert "Wh.T" in report.hint
    assert "FAILED from the last step t = 4" in str(report)


def test_tanh_derivative_from_the_pre_activation_breaks_everything_at_the_last_step():
    params, x, h0 = data()
    report = check_bptt(steps_model(params, "tanh' from the pre-activation"), x, h0)
    assert report.first_bad_step == T - 1
    assert set(report.rows[0].failed()) == {"x", "h0", "Wx", "Wh", "b"}
    assert "pre-activation" in report.hint


def test_missing_recurrent_term_is_right_for_one_step_and_wrong_from_t_minus_2():
    params, x, h0 = data()
    report = check_bptt(sequence_model(params, "no recurrent term"), x, h0)
    assert report.rows[0].passed
    assert report.first_bad_step == T - 2
    assert {"x", "h0"} <= set(report.rows[1].failed())
    assert report.first_bad_dh == T - 3
    assert "recurrent term" in report.hint
    assert "right through steps 4..4 (counting back from the end), wrong from step t = 3 on" in (
        str(report)
    )


def test_overwritten_dwh_is_found_from_the_second_step_with_every_dh_right():
    params, x, h0 = data()
    report = check_bptt(sequence_model(params, "dWh overwritten"), x, h0)
    assert report.first_bad_step == T - 2
    assert report.rows[1].failed() == ["Wh"]
    assert report.first_bad_dh is None
    assert "summed over t" in report.hint


def test_a_layer_with_a_wrong_initial_state_gradient_is_located_at_the_last_step():
    class HalfDh0(RNN):
        """Planted bug: the gradient sent into the state before the first step is halved."""

        def backward(self, dh):
            dx = super().backward(dh)
            self.dh0 = 0.5 * self.dh0
            return dx

    rng = np.random.default_rng(4)
    layer = HalfDh0(D, H, rng=rng)
    report = check_bptt(layer, rng.standard_normal((N, T, D)))
    assert report.first_bad_step == T - 1 and report.rows[0].failed() == ["h0"]
    with pytest.raises(GradientCheckError, match=r"hint: step t = 4"):
        report.raise_if_failed()


def test_report_text_shows_one_row_per_step_and_the_details_of_the_failing_row():
    params, x, h0 = data()
    text = str(check_bptt(sequence_model(params, "no recurrent term"), x, h0))
    lines = text.splitlines()
    table_rows = [line for line in lines if line[:1].isdigit() and " | " in line]
    assert [line.split(" | ")[0].strip() for line in table_rows] == ["4", "3", "2", "1", "0"]
    assert "FAIL" not in table_rows[0] and "FAIL" in table_rows[1]
    assert "details of row t = 3:" in text
    assert isinstance(check_bptt(sequence_model(params), x, h0), BPTTReport)


# ----------------------------------------------------------------------------------------
# Clear errors


def test_check_bptt_errors_say_what_is_wrong():
    params, x, h0 = data()
    with pytest.raises(ValueError, match=r"pass h0 \(N, H\)"):
        check_bptt(sequence_model(params), x)
    with pytest.raises(TypeError, match=r"needs float64 arrays; 'x' is float32"):
        check_bptt(sequence_model(params), x.astype(np.float32), h0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, D\) with T >= 1"):
        check_bptt(sequence_model(params), x[:, 0], h0)
    with pytest.raises(TypeError, match=r"check_bptt: model \(object\) is not a layer: it lacks "
                       r"forward, backward, params, grads \(for functions, wrap them"):
        check_bptt(object(), x, h0)
    with pytest.raises(TypeError, match=r"model \(Linear\) is not a recurrent layer: it lacks "
                       r"last_state"):
        check_bptt(Linear(D, H, rng=np.random.default_rng(0)), x, h0)
    with pytest.raises(ValueError, match=r"the model's state is h0, c0, but h0 has 1 part"):
        check_bptt(LSTM(D, H, rng=np.random.default_rng(0)), x, h0)
    with pytest.raises(ValueError, match=r"dh must have the shape of the output h"):
        check_bptt(sequence_model(params), x, h0, dh=np.zeros((N, T, H + 1)))

    def short_backward(dh, caches):
        return sequence_backward(dh, caches)[:3]

    with pytest.raises(TypeError, match=r"backward must return a tuple of 5 gradients \(x, h0, "
                       r"Wx, Wh, b\), got a tuple of length 3"):
        check_bptt(SequenceFunctions(sequence_forward, short_backward, params), x, h0)
