"""He et al. (2015) and saturating units at depth (notebook 10), over five seeds.

The criteria are the ones :mod:`backprop_experiments.depth_probe`'s docstring states.
"""

import pytest

from backprop_experiments import depth_probe

SEEDS = range(5)


def spread_ratio(probe):
    return probe.activation_std[-1] / probe.activation_std[0]


def gradient_ratio(probe):
    return probe.bias_grad_norm[0] / probe.bias_grad_norm[-1]


@pytest.mark.parametrize("seed", SEEDS)
def test_he_init_keeps_a_30_layer_relu_signal_and_lecun_init_loses_it(seed):
    """He et al. 2015: LeCun's Var = 1/n shrinks a ReLU signal by 1/sqrt(2) per layer."""
    lecun = depth_probe.probe_deep_mlp("relu", depth_probe.lecun_std, depth=30, width=128,
                                       seed=seed)
    he = depth_probe.probe_deep_mlp("relu", depth_probe.he_std, depth=30, width=128, seed=seed)
    assert lecun.activation_std.shape == lecun.bias_grad_norm.shape == (30,)
    assert spread_ratio(lecun) < 1e-3  # theory 2**-14.5 = 4e-5
    assert 0.25 <= spread_ratio(he) <= 4


@pytest.mark.parametrize("seed", SEEDS)
def test_sigmoid_gradient_vanishes_over_ten_layers_while_tanh_and_relu_keep_it(seed):
    sigmoid = depth_probe.probe_deep_mlp("sigmoid", depth_probe.lecun_std, depth=10, width=64,
                                         seed=seed)
    tanh = depth_probe.probe_deep_mlp("tanh", depth_probe.lecun_std, depth=10, width=64,
                                      seed=seed)
    relu = depth_probe.probe_deep_mlp("relu", depth_probe.he_std, depth=10, width=64, seed=seed)
    assert gradient_ratio(sigmoid) < 1e-4  # sigmoid' <= 1/4: about 4**-9 = 4e-6
    assert 0.2 <= gradient_ratio(tanh) <= 5
    assert 0.2 <= gradient_ratio(relu) <= 5


def test_init_std_helpers_are_the_variance_conditions():
    assert depth_probe.lecun_std(64) == pytest.approx(1 / 8)
    assert depth_probe.he_std(50) == pytest.approx(0.2)
