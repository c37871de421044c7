"""Oracle: RNN, LSTM, Embedding and TemporalLinear against PyTorch float64 autograd.

The kit's recurrent layers multiply row vectors from the left, ``x_t @ Wx`` with Wx (D, G*H),
where torch's ``nn.RNN`` / ``nn.LSTM`` hold ``weight_ih`` (G*H, D) and compute ``x_t @ W_ih.T``:
the torch weights are the transposes. Torch adds two biases, ``b_ih + b_hh``; the kit has one,
so it goes into ``b_ih`` and ``b_hh`` is a constant zero. The LSTM's gate blocks are i, f, o, g
in the kit and i, f, g, o in torch, so the last two blocks swap places on the way into torch.
The torch modules run through ``torch.func.functional_call`` with these tensors computed from
the kit-layout leaves, so autograd carries the gradients back into the kit's layout.
"""

import numpy as np
import pytest
from torch_oracle import (
    as_tensor,
    assert_matches,
    check_layer,
    randomize_parameters,
    run_reference,
    torch,
)

from backprop_kit.layers import LSTM, RNN, Embedding, TemporalLinear

F = torch.nn.functional
functional_call = torch.func.functional_call


def torch_weights(t, gate_blocks):
    """nn.RNN / nn.LSTM parameters from kit-layout leaves, the column blocks reordered."""
    hidden = t["Wh"].shape[0]
    order = torch.cat([torch.arange(k * hidden, (k + 1) * hidden) for k in gate_blocks])
    return {
        "weight_ih_l0": t["Wx"][:, order].T,
        "weight_hh_l0": t["Wh"][:, order].T,
        "bias_ih_l0": t["b"][order],
        "bias_hh_l0": torch.zeros_like(t["b"]),
    }


# torch's LSTM gate order i, f, g, o as indices of the kit's blocks i, f, o, g.
LSTM_BLOCKS_IN_TORCH_ORDER = [LSTM.GATES.index(gate) for gate in ("i", "f", "g", "o")]

# (N, T, D, H): batch, steps, input and hidden sizes, all different; one step; one sequence.
SEQUENCE_CASES = [(3, 5, 4, 2), (2, 1, 3, 4), (1, 6, 2, 3)]


def sequence_inputs(n, steps, d, h, rng, n_states):
    """x (N, T, D) and n_states initial states (N, H) each."""
    return [rng.standard_normal((n, steps, d))] + [rng.standard_normal((n, h))
                                                   for _ in range(n_states)]


@pytest.mark.parametrize("with_h0", [True, False], ids=["h0", "zero_h0"])
@pytest.mark.parametrize(("n", "steps", "d", "h"), SEQUENCE_CASES)
def test_rnn_matches_torch_rnn(n, steps, d, h, with_h0):
    rng = np.random.default_rng(n * 1000 + steps * 100 + d * 10 + h)
    layer = RNN(d, h, rng=rng)
    randomize_parameters(layer, rng)
    x, h0 = sequence_inputs(n, steps, d, h, rng, 1)
    h0 = h0 if with_h0 else np.zeros((n, h))
    module = torch.nn.RNN(d, h, nonlinearity="tanh", batch_first=True).double()

    def reference(t):
        output, h_last = functional_call(module, torch_weights(t, [0]), (t["x"], t["h0"][None]))
        # the last state, carried to the next window, rides along (it is h[:, -1] of the output)
        return torch.cat([output, h_last.transpose(0, 1)], dim=1)

    params = {name: param.copy() for name, param in layer.params.items()}
    y = layer.forward(x, *((h0,) if with_h0 else ()))
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref, grads = run_reference(reference, {"x": x, "h0": h0, **params},
                               np.concatenate([dy, np.zeros((n, 1, h))], axis=1))
    assert_matches(np.asarray(y), ref[:, :-1], "h")
    assert_matches(layer.last_state, ref[:, -1], "last_state")
    assert_matches(dx, grads["x"], "dx")
    assert_matches(layer.dh0, grads["h0"], "dh0")
    for name in params:
        assert_matches(layer.grads[name], grads[name], f"d{name}")


@pytest.mark.parametrize("with_states", [True, False], ids=["h0_c0", "zero_states"])
@pytest.mark.parametrize(("n", "steps", "d", "h"), SEQUENCE_CASES)
def test_lstm_matches_torch_lstm(n, steps, d, h, with_states):
    rng = np.random.default_rng(n * 1000 + steps * 100 + d * 10 + h + 1)
    layer = LSTM(d, h, rng=rng)
    layer.params["b"][...] += 0.5 * rng.standard_normal(4 * h)  # keeps the forget bias of 1
    x, h0, c0 = sequence_inputs(n, steps, d, h, rng, 2)
    if not with_states:
        h0, c0 = np.zeros((n, h)), np.zeros((n, h))
    module = torch.nn.LSTM(d, h, batch_first=True).double()

    def reference(t):
        output, (h_last, c_last) = functional_call(
            module, torch_weights(t, LSTM_BLOCKS_IN_TORCH_ORDER),
            (t["x"], (t["h0"][None], t["c0"][None])),
        )
        return torch.cat([output, h_last.transpose(0, 1), c_last.transpose(0, 1)], dim=1)

    params = {name: param.copy() for name, param in layer.params.items()}
    y = layer.forward(x, *((h0, c0) if with_states else ()))
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref, grads = run_reference(reference, {"x": x, "h0": h0, "c0": c0, **params},
                               np.concatenate([dy, np.zeros((n, 2, h))], axis=1))
    assert_matches(np.asarray(y), ref[:, :-2], "h")
    assert_matches(layer.last_state[0], ref[:, -2], "last_state h")
    assert_matches(layer.last_state[1], ref[:, -1], "last_state c")
    assert_matches(dx, grads["x"], "dx")
    assert_matches(layer.dh0, grads["h0"], "dh0")
    assert_matches(layer.dc0, grads["c0"], "dc0")
    for name in params:
        assert_matches(layer.grads[name], grads[name], f"d{name}")


def test_embedding_matches_torch_with_repeated_and_unused_ids():
    rng = np.random.default_rng(4)
    layer = Embedding(7, 3, rng=rng)
    ids = np.array([[0, 2, 2, 5], [5, 5, 0, 2], [6, 2, 0, 0]])  # ids 1, 3, 4 unused
    params = {"W": layer.params["W"].copy()}
    y = layer.forward(ids)
    dy = rng.standard_normal(y.shape)
    assert layer.backward(dy) is None
    ref, grads = run_reference(lambda t: F.embedding(as_tensor(ids), t["W"]), params, dy)
    assert_matches(y, ref, "y")
    assert_matches(layer.grads["W"], grads["W"], "dW")


@pytest.mark.parametrize(("n", "steps", "d_in", "d_out"), [(2, 5, 3, 4), (3, 1, 2, 6)])
def test_temporal_linear_matches_torch(n, steps, d_in, d_out):
    rng = np.random.default_rng(n + steps + d_in + d_out)
    layer = TemporalLinear(d_in, d_out, rng=rng)
    randomize_parameters(layer, rng)
    check_layer(layer, rng.standard_normal((n, steps, d_in)),
                lambda t: F.linear(t["x"], t["W"].T, t["b"]), rng)
