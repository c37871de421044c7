"""Cache memory: arrays found in caches, bytes kept alive (shared buffers once), the monitor."""

import numpy as np
import pytest

from backprop_kit.layers import Dropout, Linear, ReLU, Residual, Sequential, Sigmoid, Tanh
from backprop_kit.layers.dropout import DropoutCache
from backprop_kit.memory import (
    CacheMonitor,
    cache_arrays,
    cached_bytes_per_layer,
    live_cached_bytes,
    nbytes_held,
)


def test_cache_arrays_finds_arrays_in_arrays_dataclasses_and_containers():
    a, b, c = np.zeros(3), np.ones((2, 2)), np.arange(4.0)
    assert cache_arrays(None) == [] and cache_arrays(3.0) == []
    assert cache_arrays(a)[0] is a
    dropout = DropoutCache(shape=(2,), dtype=a.dtype, mask=a)
    found = cache_arrays([a, (b, {"k": c, "n": None}), dropout])
    assert [id(x) for x in found] == [id(a), id(b), id(c), id(a)]
    assert cache_arrays(DropoutCache(shape=(2,), dtype=a.dtype, mask=None)) == []


def test_nbytes_held_counts_each_buffer_once_and_a_view_as_its_whole_base():
    a = np.zeros((10, 4))                  # 320 bytes
    b = np.zeros(5, dtype=np.float32)      # 20 bytes
    assert nbytes_held(a) == 320
    assert nbytes_held(a, a, [a, b]) == 340
    assert nbytes_held(a[:2]) == 320       # the slice keeps all of a alive
    assert nbytes_held(a[:2].T, a) == 320  # a view of a view: still a, once
    assert nbytes_held(a[:2].copy()) == 64
    assert nbytes_held(None, []) == 0


def test_cached_bytes_per_layer_of_a_linear_relu_stack_worked_by_hand():
    rng = np.random.default_rng(0)
    model = Sequential(Linear(6, 5, rng=rng), ReLU(), Linear(5, 3, rng=rng), Sigmoid())
    assert cached_bytes_per_layer(model) == [0, 0, 0, 0]  # nothing before the forward
    model.forward(rng.standard_normal((4, 6)))
    # Linear keeps x (4, 6); ReLU its output (4, 5); Linear that same output; Sigmoid (4, 3)
    assert cached_bytes_per_layer(model) == [4 * 6 * 8, 4 * 5 * 8, 4 * 5 * 8, 4 * 3 * 8]
    # ReLU's output is cached by two layers but held once
    assert live_cached_bytes(model) == (4 * 6 + 4 * 5 + 4 * 3) * 8


def test_float32_caches_hold_half_the_bytes():
    rng = np.random.default_rng(1)
    layers = [Linear(8, 8, rng=rng, dtype=np.float32), Tanh()]
    layers[0].forward(rng.standard_normal((3, 8)).astype(np.float32))
    layers[1].forward(layers[0].forward(rng.standard_normal((3, 8)).astype(np.float32)))
    assert cached_bytes_per_layer(layers) == [3 * 8 * 4, 3 * 8 * 4]


def test_nested_sequentials_and_dropout_masks_are_counted():
    rng = np.random.default_rng(2)
    model = Sequential(Sequential(Linear(4, 4, rng=rng), Tanh()), Dropout(0.5, rng=rng))
    model.forward(rng.standard_normal((2, 4)))
    # x, tanh output, dropout mask: three (2, 4) float64 arrays; the leaves are listed flat
    assert cached_bytes_per_layer(model) == [64, 64, 64]
    assert live_cached_bytes(model) == 3 * 64
    model.eval().forward(rng.standard_normal((2, 4)))  # eval dropout keeps no mask
    assert live_cached_bytes(model) == 2 * 64


def test_monitor_peak_of_a_plain_sequential_is_everything_cached_by_the_forward():
    rng = np.random.default_rng(3)
    model = Sequential(Linear(6, 5, rng=rng), ReLU(), Linear(5, 3, rng=rng), Sigmoid())
    x, dy = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    with CacheMonitor(model) as monitor:
        model.forward(x)
        model.backward(dy)
    assert len(monitor.samples) == 8  # one sample after each of 4 forwards and 4 backwards
    assert monitor.samples[:4] == [4 * 6 * 8, (24 + 20) * 8, (24 + 20) * 8, (24 + 20 + 12) * 8]
    assert monitor.peak_bytes == (24 + 20 + 12) * 8  # nothing is freed before the end


def test_monitor_removes_its_wrappers_also_when_the_block_raises():
    rng = np.random.default_rng(4)
    model = Sequential(Linear(3, 2, rng=rng), Tanh())
    with pytest.raises(ValueError, match="x must have shape"), CacheMonitor(model):
        assert "forward" in vars(model[0])
        model.forward(np.ones((2, 4)))
    assert all("forward" not in vars(layer) and "backward" not in vars(layer)
               for layer in model.layers)
    assert CacheMonitor(model).peak_bytes == 0


def test_monitor_reads_an_outside_list_again_at_every_sample():
    rng = np.random.default_rng(5)
    layer = Tanh()
    saved = []
    with CacheMonitor([layer], extra=saved) as monitor:
        layer.forward(rng.standard_normal((2, 5)))      # 80 bytes cached
        saved.append(np.zeros(10))                      # 80 bytes outside
        layer.forward(rng.standard_normal((2, 5)))
    assert monitor.samples == [80, 160]


def test_the_layers_inside_a_residual_block_are_counted_and_watched():
    rng = np.random.default_rng(0)
    model = Sequential(Residual(Sequential(Linear(4, 4, rng=rng), Tanh())), ReLU())
    x = rng.standard_normal((3, 4))
    with CacheMonitor(model) as monitor:
        model.forward(x)
    # Linear caches x, Tanh its output, ReLU its output: three (3, 4) float64 arrays
    assert cached_bytes_per_layer(model) == [96, 96, 96]
    assert live_cached_bytes(model) == 3 * 96
    assert monitor.samples == [96, 2 * 96, 3 * 96]
