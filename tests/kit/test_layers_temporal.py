"""TemporalLinear and TemporalSoftmaxCrossEntropy: values by formula, gradients by finite
differences (with and without a mask), masked positions, stability and error messages."""

import inspect
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_gradients, check_layer
from backprop_kit.layers import (
    Conv2D,
    Linear,
    SoftmaxCrossEntropy,
    TemporalLinear,
    TemporalSoftmaxCrossEntropy,
)


def loss_check(loss, scores, labels, mask, seed):
    """Gradient check with respect to the scores, with a random upstream scalar."""
    return check_gradients(
        lambda scores: loss.forward(scores, labels, mask),
        lambda dloss: {"scores": loss.backward(dloss)},
        {"scores": scores},
        seed=seed,
    )


# ----------------------------------------------------------------------------------------
# TemporalLinear


def test_temporal_linear_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    layer = TemporalLinear(4, 3, rng=rng)
    layer.params["b"][...] = rng.standard_normal(3)
    report = check_layer(layer, rng.standard_normal((2, 5, 4)), seed=1)  # N2 T5 D4 O3
    report.raise_if_failed()
    assert {array.name for array in report.arrays} == {"x", "W", "b"}


def test_temporal_linear_applies_the_same_affine_map_at_every_step():
    rng = np.random.default_rng(0)
    layer = TemporalLinear(4, 3, rng=rng)
    layer.params["b"][...] = rng.standard_normal(3)
    x = rng.standard_normal((2, 5, 4))
    out = layer.forward(x)
    assert out.shape == (2, 5, 3)
    for t in range(5):
        expected = x[:, t] @ layer.params["W"] + layer.params["b"]
        np.testing.assert_allclose(out[:, t], expected, rtol=1e-13)


def test_temporal_linear_accepts_the_read_only_output_of_an_rnn():
    from backprop_kit.layers import RNN

    rng = np.random.default_rng(0)
    h = RNN(3, 4, rng=rng).forward(rng.standard_normal((2, 5, 3)))
    out = TemporalLinear(4, 6, rng=rng).forward(h)
    assert out.shape == (2, 5, 6)


def test_temporal_linear_gradients_are_the_layers_own_arrays():
    rng = np.random.default_rng(0)
    layer = TemporalLinear(4, 3, rng=rng)
    grad_W = layer.grads["W"]
    x, dy = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    layer.forward(x)
    layer.backward(dy)
    assert layer.grads["W"] is grad_W
    np.testing.assert_allclose(grad_W, np.einsum("ntd,nto->do", x, dy), rtol=1e-12)
    assert [param.shape for param, _ in layer.parameters()] == [(4, 3), (3,)]


def test_temporal_linear_errors_name_expected_and_actual_shapes():
    layer = TemporalLinear(4, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"TemporalLinear\(4 -> 3\)\.forward: x must have shape "
                       r"\(N, T, 4\), got \(2, 4\)"):
        layer.forward(np.zeros((2, 4)))
    layer.forward(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 5, 3\), got \(5, 2, 3\)"):
        layer.backward(np.zeros((5, 2, 3)))


# ----------------------------------------------------------------------------------------
# TemporalSoftmaxCrossEntropy


def test_loss_is_the_mean_negative_log_likelihood_over_the_unmasked_positions():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((2, 3, 4))
    labels = np.array([[0, 3, 1], [2, 2, 0]])
    mask = np.array([[True, False, True], [True, True, False]])
    terms = []
    for n in range(2):
        for t in range(3):
            if mask[n, t]:
                p = np.exp(scores[n, t]) / np.exp(scores[n, t]).sum()
                terms.append(-np.log(p[labels[n, t]]))
    value = TemporalSoftmaxCrossEntropy().forward(scores, labels, mask)
    assert value == pytest.approx(np.mean(terms), rel=1e-13)


def test_without_a_mask_it_equals_softmax_cross_entropy_on_the_flattened_positions():
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal((3, 4, 5)), rng.integers(0, 5, size=(3, 4))
    temporal, flat = TemporalSoftmaxCrossEntropy(), SoftmaxCrossEntropy()
    value = temporal.forward(scores, labels)
    assert value == pytest.approx(flat.forward(scores.reshape(12, 5), labels.reshape(12)))
    np.testing.assert_allclose(temporal.backward(), flat.backward().reshape(3, 4, 5))


def test_gradient_with_a_mask_matches_finite_differences_and_is_zero_where_masked():
    rng = np.random.default_rng(1)
    scores = 2 * rng.standard_normal((3, 4, 5))
    labels = rng.integers(0, 5, size=(3, 4))
    mask = rng.random((3, 4)) < 0.6
    mask[0, 0] = True
    loss = TemporalSoftmaxCrossEntropy()
    loss_check(loss, scores, labels, mask, seed=2).raise_if_failed()
    loss.forward(scores, labels, mask)
    dscores = loss.backward(0.7)
    assert not dscores[~mask].any()
    np.testing.assert_allclose(dscores[mask].sum(axis=-1), 0, atol=1e-15)  # softmax - onehot


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 3),
    steps=st.integers(1, 4),
    classes=st.integers(2, 5),
    seed=st.integers(0, 2**16),
)
def test_temporal_loss_gradient_is_right_for_small_shapes_and_random_masks(
    n, steps, classes, seed
):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, steps, classes))
    labels = rng.integers(0, classes, size=(n, steps))
    mask = rng.random((n, steps)) < 0.5
    mask.flat[rng.integers(mask.size)] = True
    loss_check(TemporalSoftmaxCrossEntropy(), scores, labels, mask, seed).raise_if_failed()


def test_huge_scores_give_finite_loss_and_gradient_without_warnings():
    scores = np.array([[[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]]])
    loss = TemporalSoftmaxCrossEntropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.forward(scores, np.array([[1, 2]]))
        dscores = loss.backward()
    assert value == pytest.approx((2000 + np.log1p(np.exp(-1000.0) + np.exp(-1)) + 1) / 2)
    assert np.isfinite(dscores).all()


def test_float32_scores_give_float32_gradient():
    scores = np.zeros((2, 3, 4), dtype=np.float32)
    loss = TemporalSoftmaxCrossEntropy()
    loss.forward(scores, np.zeros((2, 3), dtype=np.int64), np.ones((2, 3), dtype=bool))
    assert loss.backward().dtype == np.float32


@pytest.mark.parametrize(
    ("labels", "mask", "error", "message"),
    [
        (np.array([[0, 4]]), None, ValueError, r"target must lie in \[0, 4\) for 4 classes"),
        (np.array([0, 1]), None, ValueError, r"target must have shape \(1, 2\), got \(2,\)"),
        (np.zeros((1, 2)), None, TypeError, r"target must be an integer array"),
        (np.array([[0, 1]]), np.array([[1, 0]]), TypeError,
         r"mask must be a boolean numpy array, got int64"),
        (np.array([[0, 1]]), np.ones((2, 1), dtype=bool), ValueError,
         r"mask must have shape \(1, 2\), got \(2, 1\)"),
        (np.array([[0, 1]]), np.zeros((1, 2), dtype=bool), ValueError, r"keeps no position"),
    ],
)
def test_temporal_loss_rejects_bad_labels_and_masks(labels, mask, error, message):
    with pytest.raises(error, match=message):
        TemporalSoftmaxCrossEntropy().forward(np.zeros((1, 2, 4)), labels, mask)


def test_temporal_loss_rejects_scores_of_the_wrong_rank():
    with pytest.raises(ValueError, match=r"prediction must have shape \(N, T, C\), got \(2, 4\)"):
        TemporalSoftmaxCrossEntropy().forward(np.zeros((2, 4)), np.zeros((2, 1), dtype=int))


def test_a_nan_at_a_masked_out_position_leaves_loss_and_gradient_finite():
    # as PyTorch's ignore_index: a position the mask leaves out does not enter the loss at all
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((2, 3, 4))
    labels = rng.integers(0, 4, size=(2, 3))
    mask = np.array([[True, False, True], [True, True, False]])
    clean = TemporalSoftmaxCrossEntropy()
    expected = clean.forward(scores, labels, mask)
    expected_grad = clean.backward()
    scores[0, 1, 2] = np.nan
    scores[1, 2] = np.inf
    loss = TemporalSoftmaxCrossEntropy()
    assert loss.forward(scores, labels, mask) == expected
    np.testing.assert_array_equal(loss.backward(), expected_grad)


def test_an_empty_batch_without_a_mask_says_that_there_is_no_position():
    with pytest.raises(ValueError, match=r"prediction holds no position \(shape \(0, 3, 4\)\)"):
        TemporalSoftmaxCrossEntropy().forward(np.zeros((0, 3, 4)), np.zeros((0, 3), dtype=int))


def test_temporal_linear_has_the_default_init_of_linear_and_conv2d():
    defaults = {cls.__name__: inspect.signature(cls).parameters["init"].default
                for cls in (Linear, TemporalLinear, Conv2D)}
    assert defaults == {"Linear": "he", "TemporalLinear": "he", "Conv2D": "he"}
    temporal = TemporalLinear(40, 30, rng=np.random.default_rng(0))
    plain = Linear(40, 30, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(temporal.params["W"], plain.params["W"])
