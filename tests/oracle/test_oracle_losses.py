"""Oracle: SoftmaxCrossEntropy, MSELoss and TemporalSoftmaxCrossEntropy against PyTorch.

A kit loss returns a float and its backward takes the scalar upstream gradient ``dloss``; torch
gets the same scalar as the upstream gradient of its loss tensor. The temporal loss's mask maps
to torch's ``ignore_index``: a masked position gets the label -100, which
``torch.nn.functional.cross_entropy`` leaves out of both the sum and the count it divides by.
"""

import numpy as np
import pytest
from torch_oracle import as_tensor, assert_matches, run_reference, torch

from backprop_kit.layers import MSELoss, SoftmaxCrossEntropy, TemporalSoftmaxCrossEntropy

F = torch.nn.functional
IGNORED = -100  # torch's default ignore_index


def check_loss(loss, prediction, targets, reference, rng):
    """Compare the loss value and dL/dprediction (for a random dloss) with torch's.

    ``targets`` are the forward's other arguments; ``reference`` maps the leaf
    ``"prediction"`` to torch's loss.
    """
    value = loss.forward(prediction, *targets)
    dloss = rng.uniform(0.5, 2.0) * rng.choice([-1, 1])
    grad = loss.backward(dloss)
    ref_value, ref_grads = run_reference(reference, {"prediction": prediction}, dloss)
    assert isinstance(value, float)
    assert_matches(value, ref_value.item(), "loss")
    assert_matches(grad, ref_grads["prediction"], "dprediction")


@pytest.mark.parametrize(("n", "classes", "scale"), [(5, 3, 1.0), (1, 4, 1.0), (7, 2, 30.0),
                                                      (4, 6, 400.0)])
def test_softmax_cross_entropy_matches_torch(n, classes, scale):
    """Including logits in the hundreds, where an unshifted softmax would overflow."""
    rng = np.random.default_rng(n * 10 + classes)
    logits = scale * rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, n)
    check_loss(SoftmaxCrossEntropy(), logits, [labels],
               lambda t: F.cross_entropy(t["prediction"], as_tensor(labels)), rng)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 5), (7,)])
def test_mse_loss_matches_torch(shape):
    rng = np.random.default_rng(len(shape))
    target = rng.standard_normal(shape)
    check_loss(MSELoss(), rng.standard_normal(shape), [target],
               lambda t: F.mse_loss(t["prediction"], as_tensor(target)), rng)


def masked_labels(labels, mask):
    """The labels with the masked-out positions set to torch's ignore_index."""
    return as_tensor(np.where(mask, labels, IGNORED))


@pytest.mark.parametrize("masking", ["none", "random", "one_position"])
def test_temporal_cross_entropy_matches_torch_ignore_index(masking):
    """Torch's (N, C, T) layout of a sequence loss: the class axis second."""
    rng = np.random.default_rng(len(masking))
    n, steps, classes = 3, 5, 4
    scores = 3.0 * rng.standard_normal((n, steps, classes))
    labels = rng.integers(0, classes, (n, steps))
    mask = {
        "none": None,
        "random": rng.random((n, steps)) < 0.6,
        "one_position": np.arange(n * steps).reshape(n, steps) == 7,
    }[masking]
    kept = np.ones((n, steps), dtype=bool) if mask is None else mask
    check_loss(
        TemporalSoftmaxCrossEntropy(), scores, [labels, mask],
        lambda t: F.cross_entropy(t["prediction"].transpose(1, 2), masked_labels(labels, kept),
                                  ignore_index=IGNORED),
        rng,
    )
