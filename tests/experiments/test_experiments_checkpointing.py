"""Gradient checkpointing's measured trade-off (backprop_experiments.checkpointing, notebook 11).

The expected figures come from the counting argument, not from the code: a plain step holds
L + 1 activations at its peak, segments of s hold ceil(L / s) + s, every block outside the last
segment runs its forward once more, and a block's forward is a third of its forward and
backward multiply-adds (a linear layer's backward does twice its forward's).
"""

import math

import numpy as np
import pytest

from backprop_experiments.checkpointing import measure_trade_off, tanh_blocks


@pytest.mark.parametrize(("n_blocks", "sizes"), [(9, [1, 2, 3, 4, 9]), (10, [3, 4, 5])])
def test_peaks_recomputations_and_multiply_adds_follow_the_counting_argument(n_blocks, sizes):
    width, batch = 6, 5
    activation = batch * width * 8
    trade = measure_trade_off(n_blocks, width, batch, sizes, seed=3, repeats=1)
    assert trade.plain_peak == (n_blocks + 1) * activation
    assert trade.peaks.tolist() == [(math.ceil(n_blocks / s) + s) * activation for s in sizes]
    last = [n_blocks - s * (math.ceil(n_blocks / s) - 1) for s in sizes]
    assert trade.recomputed == [n_blocks - k for k in last]
    block_macs = 3 * batch * width * width  # forward N D D, backward 2 N D D
    assert trade.plain_macs == n_blocks * block_macs
    assert trade.macs == [trade.plain_macs + r * block_macs // 3 for r in trade.recomputed]
    assert trade.time_ratios.shape == (len(sizes),) and np.all(trade.time_ratios > 0)


def test_the_least_memory_is_at_the_square_root_of_a_square_depth():
    trade = measure_trade_off(16, 4, 3, list(range(1, 17)), repeats=1)
    assert trade.sizes[int(np.argmin(trade.peaks))] == 4


def test_blocks_are_seeded_and_have_nonzero_biases():
    first, again, other = tanh_blocks(3, 4, seed=1), tanh_blocks(3, 4, seed=1), tanh_blocks(3, 4)
    assert all(np.array_equal(a[0].params["W"], b[0].params["W"])
               for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0][0].params["W"], other[0][0].params["W"])
    assert all(np.abs(block[0].params["b"]).min() > 0 for block in first)
