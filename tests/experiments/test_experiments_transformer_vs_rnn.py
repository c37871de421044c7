"""Notebook 12's comparison of a one-block transformer with notebook 08's RNN, over seeds.

The criteria are the ones :mod:`backprop_experiments.transformer_vs_rnn`'s docstring states;
training both models costs a few seconds per seed, so the three seeds share one module fixture.
"""

import numpy as np
import pytest

from backprop_experiments import transformer_vs_rnn as experiment
from backprop_kit.sequences import load_text_corpus

SEEDS = range(3)


@pytest.fixture(scope="module")
def data():
    return experiment.char_data()


@pytest.fixture(scope="module")
def runs(data):
    """{seed: compare(seed)}, trained once for every test of this file."""
    return {seed: experiment.compare(seed, data) for seed in SEEDS}


def test_the_two_models_have_about_the_same_number_of_parameters(runs):
    for comparison in runs.values():
        n_transformer = comparison["transformer"][1].n_params
        n_rnn = comparison["rnn"][1].n_params
        assert (n_transformer, n_rnn) == (12524, 12636)
        assert abs(n_transformer - n_rnn) / n_rnn < 0.02


@pytest.mark.parametrize("seed", SEEDS)
def test_both_models_learn_well_below_the_letter_frequencies(runs, data, seed):
    baseline = experiment.unigram_entropy(data.val_ids, data.vocab.size)
    assert 3.1 < baseline < 3.25
    for name, (_, run) in runs[seed].items():
        assert run.val_loss < baseline - 0.8, (name, run.val_loss)
        fall = run.losses[:20].mean() - run.losses[-20:].mean()
        assert fall > 0.9, (name, fall)
        assert np.all(np.isfinite(run.losses)) and run.losses.shape == (experiment.STEPS,)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_rnn_reaches_the_lower_validation_loss_in_the_same_number_of_updates(runs, seed):
    transformer = runs[seed]["transformer"][1].val_loss
    rnn = runs[seed]["rnn"][1].val_loss
    assert rnn < transformer - 0.1, (rnn, transformer)
    assert 2.0 < rnn < 2.2 and 2.2 < transformer < 2.35, (rnn, transformer)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_gradient_grows_down_the_trained_transformers_residual_stream(runs, data, seed):
    model = runs[seed]["transformer"][0]
    x, y = experiment.random_windows(data.val_ids, 32, experiment.CONTEXT,
                                     np.random.default_rng(seed))
    norms = experiment.residual_stream_norms(model, x, y)
    assert list(norms) == ["output of block 0", "between the branches of block 0", "embeddings"]
    top = norms["output of block 0"]
    assert 2 <= norms["between the branches of block 0"] / top <= 5
    assert 5 <= norms["embeddings"] / top <= 15


def test_without_skip_connections_the_gradient_at_the_input_depends_on_the_seed():
    plain_ratios = []
    for seed in range(5):
        residual = experiment.depth_probe(seed, residual=True)
        plain = experiment.depth_probe(seed, residual=False)
        assert residual.shape == plain.shape == (25,)
        assert 2 <= residual[0] / residual[-1] <= 30
        assert np.all(residual / residual[-1] >= 1 - 1e-12)
        plain_ratios.append(plain[0] / plain[-1])
    assert max(plain_ratios) / min(plain_ratios) > 10, plain_ratios


@pytest.mark.parametrize("steps", [8, 32, 61, 128])
def test_the_attention_cache_holds_h_t_squared_weights_and_5_t_d_other_numbers(steps):
    for batch, dim, n_heads, dtype in ((1, 24, 2, np.float32), (3, 12, 4, np.float64)):
        probs, rest = experiment.attention_cache_bytes(steps, batch=batch, dim=dim,
                                                       n_heads=n_heads, dtype=dtype)
        itemsize = np.dtype(dtype).itemsize
        assert probs == batch * n_heads * steps**2 * itemsize
        assert rest == 5 * batch * steps * dim * itemsize
    probs, rest = experiment.attention_cache_bytes(steps)
    assert (probs > rest) == (steps > 5 * 24 / 2)


def test_train_char_model_uses_the_step_function_it_is_given(data):
    calls = []

    def counting_step(*args):
        calls.append(args[3].shape)
        return experiment.train_step(*args)

    model = experiment.make_transformer(data.vocab.size, 0)
    run = experiment.train_char_model(model, data, 0, steps=3, step=counting_step)
    assert calls == [(experiment.BATCH, experiment.CONTEXT)] * 3
    assert run.losses.shape == run.norms.shape == (3,)


#: Samples of 400 characters per model and seed, their words pooled: one sample can end in a
#: run of spaces (the corpus's indentation and tables) and hold only a few words, and where it
#: does depends on the last bits of the float32 state, which differ between BLAS builds.
SAMPLES = 5


@pytest.mark.parametrize("seed", SEEDS)
def test_samples_are_made_of_the_corpus_words(runs, data, seed):
    text = load_text_corpus()
    frequencies = np.bincount(data.train_ids, minlength=data.vocab.size) / len(data.train_ids)
    memoryless = data.vocab.decode(np.random.default_rng(seed).choice(
        data.vocab.size, size=400 * SAMPLES, p=frequencies))
    fraction, n_words = experiment.corpus_word_fraction(memoryless, text)
    assert fraction < 0.1 and n_words > 20 * SAMPLES
    for name, (model, _) in runs[seed].items():
        samples = [experiment.sample_text(model, data.vocab, "The ", 400, temperature=0.6,
                                          rng=np.random.default_rng([seed, k]))
                   for k in range(SAMPLES)]
        assert [len(sample) for sample in samples] == [400] * SAMPLES
        fraction, n_words = experiment.corpus_word_fraction("\n".join(samples), text)
        assert fraction > 0.25 and n_words >= 10 * SAMPLES, (name, fraction, n_words)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_head_of_the_trained_transformer_looks_back_a_few_characters(runs, data, seed):
    model = runs[seed]["transformer"][0]
    x, _ = experiment.random_windows(data.val_ids, 64, experiment.CONTEXT,
                                     np.random.default_rng(seed))
    model.forward(x)
    distances = experiment.mean_attention_distance(model[2])
    assert distances.shape == (2,)
    assert np.all((distances > 0.5) & (distances < 3)), distances
    uniform = np.mean(np.arange(experiment.CONTEXT) / 2)
    assert uniform == 7.75
