"""CheckpointedSequential: the same gradients as Sequential, bit for bit, with less memory held.

The memory claim of Chen et al. (2016) in the form notebook 11 asserts it: for L blocks whose
outputs are all the same size a, checkpoints every s blocks hold at most (ceil(L/s) + s) a at
any moment of the backward, against (L + 1) a for the plain backward (the input and every
block's output), so s near sqrt(L) holds about 2 sqrt(L) a.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.grad_checkpoint import CheckpointCache, CheckpointedSequential
from backprop_kit.gradcheck import check_layer
from backprop_kit.layers import (
    BatchNorm1d,
    Dropout,
    LeakyReLU,
    Linear,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    Tanh,
)
from backprop_kit.memory import CacheMonitor


def mixed_layers(seed, n_layers, width):
    """n_layers layers of several kinds, all (N, width) -> (N, width), seeded."""
    rng = np.random.default_rng(seed)
    kinds = [lambda: Linear(width, width, rng=rng, init="xavier"), Tanh, ReLU,
             lambda: Linear(width, width, rng=rng), Sigmoid, lambda: LeakyReLU(0.1)]
    layers = [kinds[index % len(kinds)]() for index in range(n_layers)]
    for layer in layers:
        if "b" in layer.params:
            layer.params["b"][...] = 0.3 * rng.standard_normal(width)
    return layers


def blocks(seed, n_blocks, width):
    """n_blocks Sequential(Linear, Tanh) blocks: each caches one new (N, width) array."""
    rng = np.random.default_rng(seed)
    return [Sequential(Linear(width, width, rng=rng, init="xavier"), Tanh())
            for _ in range(n_blocks)]


def run(model, x, dy):
    """Output, input gradient and copies of the parameter gradients of one step."""
    y = model.forward(x)
    dx = model.backward(dy)
    return y, dx, {name: grad.copy() for name, grad in model.grads.items()}


def assert_same_step(plain, checkpointed, x, dy):
    y, dx, grads = run(plain, x, dy)
    y_c, dx_c, grads_c = run(checkpointed, x, dy)
    np.testing.assert_array_equal(y_c, y)
    np.testing.assert_array_equal(dx_c, dx)
    assert list(grads_c) == list(grads)
    for name in grads:
        np.testing.assert_array_equal(grads_c[name], grads[name], err_msg=name)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("segment_size", [1, 2, 3, 4, 7])
def test_gradients_are_bitwise_identical_to_sequential_for_every_segment_size(seed, segment_size):
    # 7 layers: 2, 3 and 4 do not divide it, 1 and 7 are the two extremes
    rng = np.random.default_rng(100 + seed)
    x, dy = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    plain = Sequential(*mixed_layers(seed, 7, 6))
    checkpointed = CheckpointedSequential(*mixed_layers(seed, 7, 6), segment_size=segment_size)
    assert_same_step(plain, checkpointed, x, dy)


@settings(max_examples=25, deadline=None)
@given(n_layers=st.integers(1, 9), data=st.data(), n=st.integers(1, 4),
       width=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_gradients_are_identical_for_all_small_chains_and_segment_sizes(
    n_layers, data, n, width, seed
):
    segment_size = data.draw(st.integers(1, n_layers))
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal((n, width)), rng.standard_normal((n, width))
    assert_same_step(Sequential(*mixed_layers(seed, n_layers, width)),
                     CheckpointedSequential(*mixed_layers(seed, n_layers, width),
                                            segment_size=segment_size), x, dy)


@pytest.mark.parametrize("segment_size", [1, 2, 5])
def test_checkpointed_backward_matches_finite_differences(segment_size):
    rng = np.random.default_rng(7)
    model = CheckpointedSequential(*mixed_layers(3, 5, 4), segment_size=segment_size)
    check_layer(model, rng.standard_normal((3, 4)), seed=2).raise_if_failed()


def test_training_mode_dropout_is_recomputed_with_the_same_mask():
    def layers():
        rng = np.random.default_rng(0)
        shared = np.random.default_rng(42)  # one generator for both dropouts, as is common
        return [Linear(6, 6, rng=rng), Dropout(0.5, rng=shared), Tanh(),
                Linear(6, 6, rng=rng), Dropout(0.3, rng=shared), ReLU(), Linear(6, 2, rng=rng)]

    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((4, 6)), rng.standard_normal((4, 2))
    plain = Sequential(*layers())
    for segment_size in (1, 2, 3):
        checkpointed = CheckpointedSequential(*layers(), segment_size=segment_size)
        assert_same_step(plain, checkpointed, x, dy)
        # and the generator ends where the plain forward left it: the next masks agree too
        plain_state = plain[1].rng.bit_generator.state
        assert checkpointed[1].rng.bit_generator.state == plain_state
        plain[1].rng.bit_generator.state = np.random.default_rng(42).bit_generator.state


@pytest.mark.parametrize(("n_blocks", "segment_size"),
                         [(16, 4), (16, 1), (16, 16), (16, 5), (9, 3), (10, 4), (1, 1)])
def test_peak_cached_memory_is_ceil_l_over_s_plus_s_activations(n_blocks, segment_size):
    n, width = 3, 4
    a = n * width * 8  # bytes of one activation
    rng = np.random.default_rng(n_blocks)
    x, dy = rng.standard_normal((n, width)), rng.standard_normal((n, width))
    model = CheckpointedSequential(*blocks(0, n_blocks, width), segment_size=segment_size)
    with CacheMonitor(model) as monitor:
        model.forward(x)
        model.backward(dy)
    expected = math.ceil(n_blocks / segment_size) + segment_size
    assert monitor.peak_bytes == expected * a


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sqrt_l_segments_cut_the_peak_from_l_plus_1_to_2_sqrt_l_activations(seed):
    n, width, n_blocks = 4, 3, 36
    a = n * width * 8
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal((n, width)), rng.standard_normal((n, width))
    peaks = {}
    for name, model in [("plain", Sequential(*blocks(seed, n_blocks, width))),
                        ("sqrt", CheckpointedSequential(*blocks(seed, n_blocks, width),
                                                        segment_size=6))]:
        with CacheMonitor(model) as monitor:
            model.forward(x)
            model.backward(dy)
        peaks[name] = monitor.peak_bytes
    assert peaks == {"plain": (n_blocks + 1) * a, "sqrt": 12 * a}


@pytest.mark.parametrize(("n_layers", "segment_size", "recomputed"),
                         [(7, 1, 6), (7, 3, 6), (7, 2, 6), (7, 4, 4), (7, 7, 0), (8, 4, 4)])
def test_every_segment_but_the_last_is_recomputed_once(n_layers, segment_size, recomputed):
    layers = mixed_layers(0, n_layers, 3)
    model = CheckpointedSequential(*layers, segment_size=segment_size)
    calls = {id(layer): 0 for layer in layers}
    for layer in layers:
        original = layer.forward

        def counted(x, layer=layer, original=original):
            calls[id(layer)] += 1
            return original(x)

        layer.forward = counted
    rng = np.random.default_rng(0)
    model.forward(rng.standard_normal((2, 3)))
    assert set(calls.values()) == {1}
    model.backward(rng.standard_normal((2, 3)))
    assert model.recomputed_forwards == recomputed == sum(calls.values()) - n_layers
    last_segment = model.segments[-1]
    assert all(calls[id(layer)] == 1 for layer in last_segment)


def test_forward_keeps_segment_inputs_and_only_the_last_segments_caches():
    layers = mixed_layers(1, 7, 3)
    model = CheckpointedSequential(*layers, segment_size=3)
    x = np.random.default_rng(0).standard_normal((2, 3))
    model.forward(x)
    assert [len(segment) for segment in model.segments] == [3, 3, 1]
    assert [layer.cache is None for layer in layers] == [True] * 6 + [False]
    assert isinstance(model.cache, CheckpointCache)
    assert model.cache.segment_inputs[0] is x
    h = x
    for index, layer in enumerate(Sequential(*mixed_layers(1, 7, 3)).layers):
        if index % 3 == 0:
            np.testing.assert_array_equal(model.cache.segment_inputs[index // 3], h)
        h = layer.forward(h)
    model.backward(np.ones((2, 3)))
    assert model.cache is None and all(layer.cache is None for layer in layers)


def test_params_and_grads_are_exposed_like_sequential():
    rng = np.random.default_rng(0)
    first, second = Linear(3, 4, rng=rng), Linear(4, 2, rng=rng)
    model = CheckpointedSequential(first, ReLU(), second, segment_size=2)
    assert list(model.params) == list(Sequential(first, ReLU(), second).params)
    assert list(model.params) == ["0.W", "0.b", "2.W", "2.b"] == list(model.grads)
    assert model.params["2.W"] is second.params["W"]
    assert model.grads["0.b"] is first.grads["b"]
    pairs = list(model.parameters())
    assert pairs[0][0] is first.params["W"] and pairs[0][1] is first.grads["W"]
    model.eval()
    assert not first.training and not model.training
    assert len(model) == 3 and model[2] is second
    assert repr(model).startswith("CheckpointedSequential(segment_size=2,")


@pytest.mark.parametrize("bad", [0, 4, -1, 2.0, True, "2", None])
def test_bad_segment_size_raises_a_clear_error(bad):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=rf"segment_size must be an integer from 1 to the "
                                         rf"number of layers \(3\), got {bad!r}"):
        CheckpointedSequential(Linear(2, 2, rng=rng), Tanh(), Linear(2, 2, rng=rng),
                               segment_size=bad)


def test_other_errors_are_clear():
    with pytest.raises(ValueError, match="needs at least one layer"):
        CheckpointedSequential(segment_size=1)
    with pytest.raises(TypeError, match=r"argument 0 \(int\) is not a layer"):
        CheckpointedSequential(3, segment_size=1)
    model = CheckpointedSequential(Tanh(), Tanh(), segment_size=1)
    with pytest.raises(RuntimeError, match="backward was called before forward"):
        model.backward(np.ones((2, 2)))
    model.forward(np.ones((2, 2)))
    model.backward(np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="backward was called before forward"):
        model.backward(np.ones((2, 2)))  # the backward dropped everything


def nested_dropout_layers():
    """Dropouts at depth 1 (inside Residual) and depth 2 (Sequential inside Residual)."""
    rng = np.random.default_rng(3)
    dropout_rng = np.random.default_rng(11)
    return [Linear(5, 5, rng=rng),
            Residual(Dropout(0.5, rng=dropout_rng)),
            Tanh(),
            Residual(Sequential(Linear(5, 5, rng=rng), Dropout(0.4, rng=dropout_rng), Tanh())),
            Linear(5, 3, rng=rng)]


@pytest.mark.parametrize("segment_size", [1, 2, 3])
def test_a_dropout_nested_in_containers_is_recomputed_with_the_same_mask(segment_size):
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    plain = Sequential(*nested_dropout_layers())
    checkpointed = CheckpointedSequential(*nested_dropout_layers(), segment_size=segment_size)
    assert_same_step(plain, checkpointed, x, dy)
    assert_same_step(plain, checkpointed, x, dy)  # the generators moved on in step with plain
    inner = checkpointed[3].block  # and the backward dropped the caches at every depth
    assert all(layer.cache is None for layer in [checkpointed[1].block, *inner.layers])


def batchnorm_layers():
    """BatchNorm1d at the top level and inside a Residual block."""
    rng = np.random.default_rng(5)
    return [Linear(4, 4, rng=rng), BatchNorm1d(4), ReLU(),
            Residual(Sequential(Linear(4, 4, rng=rng), BatchNorm1d(4), Tanh())),
            Linear(4, 2, rng=rng)]


@pytest.mark.parametrize("segment_size", [1, 2, 4])
def test_recomputing_leaves_the_batchnorm_running_statistics_as_sequential_has_them(
    segment_size
):
    rng = np.random.default_rng(6)
    plain = Sequential(*batchnorm_layers())
    checkpointed = CheckpointedSequential(*batchnorm_layers(), segment_size=segment_size)
    for _ in range(2):
        x, dy = rng.standard_normal((7, 4)), rng.standard_normal((7, 2))
        assert_same_step(plain, checkpointed, x, dy)
    norms = [(plain[1], checkpointed[1]), (plain[3].block[1], checkpointed[3].block[1])]
    for plain_norm, checkpointed_norm in norms:
        assert not np.array_equal(plain_norm.running_mean, np.zeros(4))  # they did move
        np.testing.assert_array_equal(checkpointed_norm.running_mean, plain_norm.running_mean)
        np.testing.assert_array_equal(checkpointed_norm.running_var, plain_norm.running_var)
