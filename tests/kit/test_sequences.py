"""Sequence data (adding problem, copy task, text corpus, character vocabulary) and truncated
BPTT: with k >= T it is full BPTT, with k < T each window's gradient is that of the window
alone, measured by finite differences with the carried state held fixed."""

import re
from pydoc_data.topics import topics

import numpy as np
import pytest

from backprop_kit.gradcheck import numerical_vjp
from backprop_kit.layers import LSTM, RNN, TemporalSoftmaxCrossEntropy
from backprop_kit.sequences import (
    CORPUS_TOPICS,
    CharVocab,
    adding_problem,
    copy_task,
    copy_task_baseline,
    initial_state_args,
    load_text_corpus,
    truncated_bptt,
    truncated_bptt_windows,
)

# ----------------------------------------------------------------------------------------
# Adding problem and copy task


def test_adding_problem_has_two_markers_one_per_half_and_their_sum_as_target():
    x, y = adding_problem(50, 9, np.random.default_rng(0))
    assert x.shape == (50, 9, 2) and y.shape == (50,) and x.dtype == y.dtype == np.float64
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values <= 1)).all()
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert (markers[:, :4].sum(axis=1) == 1).all() and (markers[:, 4:].sum(axis=1) == 1).all()
    for n in range(50):
        marked = np.flatnonzero(markers[n])
        assert y[n] == pytest.approx(values[n, marked[0]] + values[n, marked[1]], rel=1e-15)


def test_adding_problem_constant_prediction_has_the_documented_baseline_error():
    _, y = adding_problem(20000, 20, np.random.default_rng(0))
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.01)


def test_adding_problem_is_deterministic_for_a_seed_and_casts_to_float32():
    a = adding_problem(5, 6, np.random.default_rng(3))
    b = adding_problem(5, 6, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    x32, y32 = adding_problem(5, 6, np.random.default_rng(3), dtype=np.float32)
    assert x32.dtype == y32.dtype == np.float32


def test_copy_task_layout_symbols_pause_marker_then_recall():
    inputs, targets = copy_task(4, np.random.default_rng(0), length=3, delay=5, n_symbols=6)
    assert inputs.shape == targets.shape == (4, 11) and inputs.dtype == np.int64
    symbols = inputs[:, :3]
    assert ((symbols >= 1) & (symbols <= 6)).all()
    assert (inputs[:, 3:7] == 0).all()
    assert (inputs[:, 7] == 7).all()  # the go marker, n_symbols + 1
    assert (inputs[:, 8:] == 0).all()
    assert (targets[:, :8] == 0).all()
    np.testing.assert_array_equal(targets[:, 8:], symbols)
    again = copy_task(4, np.random.default_rng(0), length=3, delay=5, n_symbols=6)
    np.testing.assert_array_equal(again[0], inputs)


def test_copy_task_baseline_is_the_loss_of_the_best_memoryless_prediction():
    length, delay, n_symbols = 4, 6, 5
    inputs, targets = copy_task(200, np.random.default_rng(1), length=length, delay=delay,
                                n_symbols=n_symbols)
    steps, vocab = inputs.shape[1], n_symbols + 2
    probs = np.full((200, steps, vocab), 1e-300)
    probs[:, : length + delay, 0] = 1.0  # certain blank
    probs[:, length + delay :, 1 : n_symbols + 1] = 1 / n_symbols  # uniform over the symbols
    loss = TemporalSoftmaxCrossEntropy().forward(np.log(probs), targets)
    assert loss == pytest.approx(copy_task_baseline(length, delay, n_symbols), rel=1e-9)
    assert copy_task_baseline() == pytest.approx(10 * np.log(8) / 40)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: adding_problem(3, 1, np.random.default_rng(0)), ValueError,
         r"T must be at least 2"),
        (lambda: adding_problem(0, 5, np.random.default_rng(0)), ValueError,
         r"n must be a positive integer"),
        (lambda: adding_problem(3, 5, 0), TypeError, r"rng must be a np.random.Generator"),
        (lambda: copy_task(3, np.random.default_rng(0), delay=0), ValueError,
         r"delay must be a positive integer"),
    ],
)
def test_task_generators_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ----------------------------------------------------------------------------------------
# Text corpus and vocabulary


def test_corpus_is_english_prose_of_tens_of_kilobytes():
    text = load_text_corpus()
    assert len(text) > 40_000
    words = re.findall(r"[a-z]+", text.lower())
    assert len(words) > 7_000
    for common in ("the", "of", "and", "is", "a", "to"):
        assert words.count(common) > 100, common
    letters_and_spaces = sum(ch.isalpha() or ch.isspace() for ch in text)
    assert letters_and_spaces / len(text) > 0.85
    assert 60 <= len(set(text)) <= 120


def test_corpus_is_deterministic_and_made_of_python_help_topics():
    text = load_text_corpus()
    assert load_text_corpus() == text
    position = 0
    for name in CORPUS_TOPICS:
        found = text.find(topics[name].strip(), position)
        assert found >= position, name
        position = found + len(topics[name].strip())
    assert text.startswith("Objects, values and types")


def test_char_vocab_round_trips_the_corpus_with_sorted_ids():
    text = load_text_corpus()
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() == 0 and ids.max() == vocab.size - 1
    assert vocab.decode(ids) == text
    assert list(vocab.chars) == sorted(vocab.chars)
    assert vocab.encode("a")[0] == vocab.chars.index("a")


def test_char_vocab_errors_name_the_problem():
    vocab = CharVocab("abc")
    assert repr(vocab) == "CharVocab(3 characters)"
    with pytest.raises(ValueError, match=r"character 'z' is not in the vocabulary of 3"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\)"):
        vocab.decode(np.array([0, 3]))
    with pytest.raises(ValueError, match=r"1-D integer array"):
        vocab.decode(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match=r"non-empty string"):
        CharVocab("")


# ----------------------------------------------------------------------------------------
# Truncated BPTT


def test_windows_cover_every_step_once_in_order():
    windows = list(truncated_bptt_windows(10, 4))
    assert windows == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert list(truncated_bptt_windows(3, 5)) == [slice(0, 3)]
    with pytest.raises(ValueError, match=r"k must be a positive integer, got 0"):
        list(truncated_bptt_windows(3, 0))


def test_initial_state_args_unpacks_none_an_rnn_state_and_an_lstm_state():
    h, c = np.zeros((2, 3)), np.ones((2, 3))
    assert initial_state_args(None) == ()
    assert initial_state_args(h)[0] is h
    assert initial_state_args((h, c)) == (h, c)


@pytest.mark.parametrize("layer_class", [RNN, LSTM])
def test_truncation_longer_than_the_sequence_is_full_bptt(layer_class):
    rng = np.random.default_rng(0)
    layer = layer_class(3, 4, rng=rng)
    x, dh = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 4))
    layer.forward(x)
    full_dx = np.array(layer.backward(dh))
    full = {name: grad.copy() for name, grad in layer.grads.items()}
    dx = truncated_bptt(layer, x, dh, k=6)
    np.testing.assert_array_equal(dx, full_dx)
    for name, grad in layer.grads.items():
        np.testing.assert_array_equal(grad, full[name])


def test_truncated_gradient_of_each_window_is_that_window_alone_from_a_fixed_state():
    rng = np.random.default_rng(1)
    rnn = RNN(3, 4, rng=rng)
    rnn.params["b"][...] = rng.standard_normal(4)
    x, dh = rng.standard_normal((2, 7, 3)), rng.standard_normal((2, 7, 4))
    h0 = rng.standard_normal((2, 4))
    states = np.array(rnn.forward(x, h0))  # the exact forward pass, one call
    dx = truncated_bptt(rnn, x, dh, k=3, state=h0)
    np.testing.assert_allclose(rnn.last_state, states[:, -1], rtol=1e-14)

    # Hand-cut reference by finite differences: window [s, e) from the state h_{s-1} of the
    # exact forward pass, held constant, with the window's own upstream gradient only.
    expected_grads = {name: np.zeros_like(p) for name, p in rnn.params.items()}
    for start, stop in [(0, 3), (3, 6), (6, 7)]:
        before = h0 if start == 0 else states[:, start - 1]
        window_dh = dh[:, start:stop]
        window_x = x[:, start:stop].copy()
        reference = numerical_vjp(lambda xs, b=before: rnn.forward(xs, b), window_x, window_dh)
        np.testing.assert_allclose(dx[:, start:stop], reference, rtol=1e-6, atol=1e-9)
        for name, param in rnn.params.items():
            expected_grads[name] += numerical_vjp(
                lambda _p, xs=window_x, b=before: rnn.forward(xs, b), param, window_dh
            )
    truncated = {name: grad.copy() for name, grad in rnn.grads.items()}
    for name in rnn.params:
        np.testing.assert_allclose(truncated[name], expected_grads[name], rtol=1e-6, atol=1e-9)

    rnn.forward(x, h0)
    full_dx = rnn.backward(dh)
    assert not np.allclose(dx[:, :3], full_dx[:, :3])  # the cut really drops something
    np.testing.assert_allclose(dx[:, 6:], full_dx[:, 6:], rtol=1e-12)  # last window: no future


def test_truncated_bptt_rejects_mismatched_arrays():
    rnn = RNN(3, 4, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 5, H\), got \(2, 4, 4\)"):
        truncated_bptt(rnn, np.zeros((2, 5, 3)), np.zeros((2, 4, 4)), k=2)
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, D\), got \(5, 3\)"):
        truncated_bptt(rnn, np.zeros((5, 3)), np.zeros((2, 4, 4)), k=2)


def test_a_character_model_trained_with_truncated_bptt_on_the_corpus_lowers_its_loss():
    from backprop_kit.clip import clip_grad_norm
    from backprop_kit.layers import Embedding, Sequential, TemporalLinear
    from backprop_kit.optim import Adam

    text = load_text_corpus()
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    rng = np.random.default_rng(0)
    embed, rnn = Embedding(vocab.size, 8, rng=rng), RNN(8, 32, rng=rng)
    readout = TemporalLinear(32, vocab.size, rng=rng)
    model, loss = Sequential(embed, rnn, readout), TemporalSoftmaxCrossEntropy()
    optimizer = Adam(model.parameters(), lr=1e-2)
    batch, length = 8, 400
    starts = np.arange(batch) * (len(ids) // batch)  # eight far-apart stretches of the text
    stream = np.stack([ids[s : s + length + 1] for s in starts])
    losses, state = [], None
    for window in truncated_bptt_windows(length, 20):
        inputs = stream[:, window]
        targets = stream[:, window.start + 1 : window.stop + 1]
        h = rnn.forward(embed.forward(inputs), *initial_state_args(state))
        losses.append(loss.forward(readout.forward(h), targets))
        embed.backward(rnn.backward(readout.backward(loss.backward())))
        state = rnn.last_state
        clip_grad_norm([grad for _, grad in model.parameters()], 5.0)
        optimizer.step()
    assert losses[0] == pytest.approx(np.log(vocab.size), abs=0.5)  # a uniform guess at first
    assert np.mean(losses[-5:]) < losses[0] - 1.0
