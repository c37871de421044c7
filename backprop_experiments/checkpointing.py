"""Gradient checkpointing's trade-off, measured: memory held against the cost of a step.

Chen, T., Xu, B., Zhang, C. & Guestrin, C. (2016), "Training deep nets with sublinear memory
cost", arXiv:1604.06174. Sec. 4.1: split a chain of L layers into segments, keep only each
segment's input during the forward, and recompute a segment's activations when the backward
reaches it; with segments of about sqrt(L) layers the memory held grows as O(sqrt(L)), for the
price of one extra forward pass. Notebook 11 (section 6) measures this on the kit's
:class:`~backprop_kit.grad_checkpoint.CheckpointedSequential` with :func:`measure_trade_off`:
for each segment size s, the peak of the bytes held by caches (counted by
:class:`~backprop_kit.memory.CacheMonitor`), the recomputed block forwards, the multiply-adds
of a step (counted by :class:`~backprop_kit.flops.MacCounter`) and its processor time against
a plain :class:`~backprop_kit.layers.Sequential` step.

Pass criteria, asserted by ``tests/experiments/test_experiments_checkpointing.py`` (and for
notebook 11's sizes by the notebook), for L blocks ``Sequential(Linear, Tanh)`` of width D and a
batch of N (one activation is a = N D 8 bytes):

- the gradients of every segment size equal the plain step's bit for bit;
- the plain step's peak is (L + 1) a; segment size s peaks at (ceil(L / s) + s) a, least at
  s = sqrt(L) for a square L;
- the blocks of every segment but the last are recomputed, once each, and each recomputed
  block adds exactly a third of a block's forward and backward multiply-adds.

Measured time is reported, not asserted: it follows the counts with noise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from backprop_kit import flops, memory
from backprop_kit.grad_checkpoint import CheckpointedSequential
from backprop_kit.layers import Linear, Sequential, Tanh
from backprop_kit.layers.base import walk_layers

__all__ = ["TradeOff", "measure_trade_off", "tanh_blocks"]


def tanh_blocks(n_blocks: int, width: int, seed: int = 0) -> list[Sequential]:
    """``n_blocks`` blocks ``Sequential(Linear(width -> width), Tanh())``, seeded.

    Weights are Xavier-initialised and biases drawn as 0.1 N(0, 1) (so that a bias mistake
    shows), all from ``numpy.random.default_rng(seed)``.
    """
    gen = np.random.default_rng(seed)
    blocks = [Sequential(Linear(width, width, rng=gen, init="xavier"), Tanh())
              for _ in range(n_blocks)]
    for block in blocks:
        block[0].params["b"][...] = 0.1 * gen.normal(size=width)
    return blocks


@dataclass(frozen=True)
class TradeOff:
    """What :func:`measure_trade_off` measured, one entry per segment size.

    Attributes
    ----------
    sizes : list of int
        The segment sizes, as given.
    peaks : ndarray, shape (len(sizes),)
        Peak bytes held by caches during one training step (from empty caches).
    recomputed : list of int
        Block forwards the backward ran again.
    macs : list of int
        Multiply-adds of one step, forward and backward.
    time_ratios : ndarray, shape (len(sizes),)
        Median over ``repeats`` of (processor time of a step) / (that of a plain step run just
        before it).
    plain_peak : int
        Peak bytes of the plain ``Sequential`` step.
    plain_macs : int
        Multiply-adds of the plain step.
    """

    sizes: list[int]
    peaks: np.ndarray
    recomputed: list[int]
    macs: list[int]
    time_ratios: np.ndarray
    plain_peak: int
    plain_macs: int


def _step(model: Sequential, x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    model.forward(x)
    return model.backward(dy)


def _peak(model: Sequential, x: np.ndarray, dy: np.ndarray) -> int:
    for layer in walk_layers([model]):  # as before a first step: no caches left over
        layer.cache = None
    with memory.CacheMonitor(model) as monitor:
        _step(model, x, dy)
    return monitor.peak_bytes


def _macs(model: Sequential, x: np.ndarray, dy: np.ndarray) -> int:
    counter = flops.MacCounter()
    model.forward(counter.track(x))
    model.backward(counter.track(dy))
    return counter.macs


def _time_ratio(model: Sequential, plain: Sequential, x: np.ndarray, dy: np.ndarray,
                repeats: int) -> float:
    ratios = []
    for _ in range(repeats):
        start = time.thread_time()
        _step(plain, x, dy)
        middle = time.thread_time()
        _step(model, x, dy)
        ratios.append((time.thread_time() - middle) / max(middle - start, 1e-9))
    return float(np.median(ratios))


def measure_trade_off(n_blocks: int, width: int, batch: int, sizes: list[int], *,
                      seed: int = 6, repeats: int = 3) -> TradeOff:
    """Measure a plain step and a checkpointed step for every segment size.

    Parameters
    ----------
    n_blocks, width, batch : int
        L blocks of :func:`tanh_blocks` (seed 0) of width D, on a batch of N rows.
    sizes : list of int
        Segment sizes, each from 1 to ``n_blocks``.
    seed : int
        Seed of the input x and the upstream gradient dy, both of shape (N, D).
    repeats : int
        Timed step pairs per size (the median ratio is kept).

    Returns
    -------
    TradeOff

    Raises
    ------
    AssertionError
        When a checkpointed step's dx or a parameter gradient differs from the plain step's.
    """
    gen = np.random.default_rng(seed)
    x, dy = gen.normal(size=(batch, width)), gen.normal(size=(batch, width))
    plain = Sequential(*tanh_blocks(n_blocks, width))
    plain_dx = _step(plain, x, dy)
    plain_grads = {name: grad.copy() for name, grad in plain.grads.items()}
    plain_peak, plain_macs = _peak(plain, x, dy), _macs(plain, x, dy)
    peaks, recomputed, macs, ratios = [], [], [], []
    for size in sizes:
        model = CheckpointedSequential(*tanh_blocks(n_blocks, width), segment_size=size)
        dx = _step(model, x, dy)
        assert np.array_equal(dx, plain_dx), f"segment size {size}: dx differs"
        assert all(np.array_equal(model.grads[name], grad)
                   for name, grad in plain_grads.items()), f"segment size {size}: grads differ"
        recomputed.append(model.recomputed_forwards)
        peaks.append(_peak(model, x, dy))
        macs.append(_macs(model, x, dy))
        ratios.append(_time_ratio(model, plain, x, dy, repeats))
    return TradeOff(list(sizes), np.array(peaks), recomputed, macs, np.array(ratios),
                    plain_peak, plain_macs)
