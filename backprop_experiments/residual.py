"""Residual connections carry the gradient through a deep stack of small layers.

He, K., Zhang, X., Ren, S. & Sun, J. (2016), "Deep residual learning for image recognition",
CVPR, and "Identity mappings in deep residual networks", ECCV, Sec. 3 (Eq. 5): with
h_{l+1} = h_l + F_l(h_l) the gradient at any depth l is the gradient at the top plus terms
through the branches, dL/dh_l = dL/dh_L (I + sum_k dF_k/dh_l + ...), so it cannot vanish
however small the branches are, while a plain stack h_{l+1} = F_l(h_l) multiplies it by
every branch's Jacobian. Notebook 10 (section 5) measures ||dL/dh_l|| through 50 layers of
width 64 (:func:`residual_gradient_flow`). He et al. introduced residual learning against
the degradation problem, which they did not attribute to vanishing gradients; this is the
gradient-flow part of the argument only.

Pass criteria, asserted over seeds 0-4 by ``tests/experiments/test_experiments_residual.py``
(and for seed 0 by the notebook), as ||dL/dh_0|| / ||dL/dh_50||:

- branch weights of std 0.1/sqrt(n), tanh and ReLU branches: in [0.5, 3] with skips, below
  1e-6 without;
- full-size branches (std 1/sqrt(n)) with skips: above 10, the gradient grows;
- plain stacks with a matched scale: ReLU with std sqrt(2/n) in [0.2, 5], tanh with
  std 1/sqrt(n) in [0.03, 0.5].

Everything runs in float64 in a fraction of a second per stack.
"""

from __future__ import annotations

import numpy as np

from backprop_experiments._digits_mlp import ACTIVATIONS, Activation, digits, gaussian_linear
from backprop_kit.layers import Residual, Sequential

__all__ = ["residual_gradient_flow"]


def residual_gradient_flow(
    seed: int,
    *,
    residual: bool,
    activation: Activation = "tanh",
    weight_scale: float = 0.1,
    depth: int = 50,
    width: int = 64,
    n_samples: int = 128,
) -> np.ndarray:
    """Norm of the gradient at every layer of a deep stack, with or without skip connections.

    Layer l is h_{l+1} = h_l + act(h_l W_l) (residual) or h_{l+1} = act(h_l W_l) (plain), with
    W_l (width, width) drawn from N(0, (weight_scale / sqrt(width))**2). h_0 is a batch of
    digits (64 pixels, so width is 64); the upstream gradient at the top, dL/dh_depth, is
    standard normal (what a loss above would send; its scale cancels in ratios).

    Parameters
    ----------
    seed : int
        Seeds the weights and the upstream gradient.
    residual : bool
        Wrap every layer in :class:`~backprop_kit.layers.Residual`.
    activation : {"relu", "sigmoid", "tanh"}, default "tanh"
        The nonlinearity inside each layer.
    weight_scale : float, default 0.1
        std of the weights times sqrt(width): 0.1 is a small branch, 1 LeCun's scale (and
        Xavier's, for these square layers), sqrt(2) He's.
    depth, width : int, default 50, 64
        Number of layers; width must be 64 (the digits' pixels).
    n_samples : int, default 128
        Batch size.

    Returns
    -------
    np.ndarray
        (depth + 1,) ||dL/dh_l|| (Frobenius norm over the batch) for l = 0 (input) .. depth.
    """
    rng = np.random.default_rng(seed)
    std = weight_scale / np.sqrt(width)
    layers = []
    for _ in range(depth):
        block = Sequential(gaussian_linear(width, width, std, rng), ACTIVATIONS[activation]())
        layers.append(Residual(block) if residual else block)
    h = digits().X_train[:n_samples]
    for layer in layers:
        h = layer.forward(h)
    grad = rng.normal(size=h.shape)
    norms = [np.linalg.norm(grad)]
    for layer in reversed(layers):
        grad = layer.backward(grad)
        norms.append(np.linalg.norm(grad))
    return np.array(norms[::-1])


