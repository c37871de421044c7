"""Losses: values by formula, gradients by finite differences, stability, label checks."""

import inspect
import warnings

import numpy as np
import pytest

from backprop_kit.gradcheck import check_gradients
from backprop_kit.layers import MSELoss, SoftmaxCrossEntropy, TemporalSoftmaxCrossEntropy


def cross_entropy_check(loss, logits, labels, seed):
    """Gradient check of ``loss`` with respect to the logits, with a random upstream scalar."""
    return check_gradients(
        lambda logits: loss.forward(logits, labels),
        lambda dloss: {"logits": loss.backward(dloss)},
        {"logits": logits},
        seed=seed,
    )


def test_softmax_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    logits = 3 * rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, size=6)
    cross_entropy_check(SoftmaxCrossEntropy(), logits, labels, seed=1).raise_if_failed()


def test_softmax_cross_entropy_value_matches_the_definition():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [-3.0, 4.0, 1.0], [1.0, 2.0, 3.0]])
    labels = np.array([0, 2, 1, 0])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(probs[np.arange(4), labels]))
    assert SoftmaxCrossEntropy().forward(logits, labels) == pytest.approx(expected, rel=1e-14)


def test_softmax_cross_entropy_backward_is_softmax_minus_one_hot_over_n():
    logits = np.array([[1.0, 2.0, 0.0], [0.5, -0.5, 3.0]])
    labels = np.array([1, 0])
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, labels)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    onehot = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(loss.backward(), (probs - onehot) / 2, rtol=1e-13)
    np.testing.assert_allclose(loss.backward(3.0), 3 * (probs - onehot) / 2, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_is_stable_at_plus_minus_1000(dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    loss = SoftmaxCrossEntropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no divide-by-zero, no invalid value
        value = loss.forward(logits, np.array([0, 2]))
        dlogits = loss.backward()
    # row 0: label has the largest logit by 1000 -> loss ~0; row 1: 1 below the max -> ~1.3133
    assert value == pytest.approx((0 + np.log1p(np.exp(-1.0)) + 1.0) / 2, rel=1e-6)
    assert np.all(np.isfinite(dlogits)) and dlogits.dtype == dtype
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-6)  # softmax rows sum to 1


def test_gradient_checker_catches_a_cross_entropy_with_a_planted_bug():
    class SummedCrossEntropy(SoftmaxCrossEntropy):
        """Planted bug: backward forgets to divide by N."""

        def backward(self, dloss=1.0):
            return super().backward(dloss) * len(self.cache.labels)

    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 3)), rng.integers(0, 3, size=5)
    assert not cross_entropy_check(SummedCrossEntropy(), logits, labels, seed=0).passed


def test_mse_value_and_gradient():
    pred = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    target = np.array([[0.5, -2.0, 1.5], [1.0, 1.0, -1.0]])
    loss = MSELoss()
    # squared residuals 0.25, 0, 1, 1, 4, 0 over 6 entries
    assert loss.forward(pred, target) == pytest.approx(6.25 / 6, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), 2 * (pred - target) / 6, rtol=1e-15)


def test_mse_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    loss = MSELoss()
    check_gradients(
        lambda pred: loss.forward(pred, target),
        lambda dloss: {"pred": loss.backward(dloss)},
        {"pred": pred},
        seed=2,
    ).raise_if_failed()


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (np.array([0, 3, 1]), ValueError, r"target must lie in \[0, 3\) for 3 classes, found 3"),
        (np.array([0, -1, 1]), ValueError, r"found -1"),
        (np.array([0, 1]), ValueError, r"target must have shape \(3,\), got \(2,\)"),
        (np.array([0.0, 1.0, 2.0]), TypeError, r"class indices, got dtype float64"),
        ([0, 1, 2], TypeError, r"target must be a numpy array, got list"),
    ],
)
def test_cross_entropy_rejects_bad_labels(labels, error, message):
    with pytest.raises(error, match=message):
        SoftmaxCrossEntropy().forward(np.zeros((3, 3)), labels)


def test_loss_errors_are_clear():
    with pytest.raises(ValueError, match=r"prediction must have shape \(N, C\), got \(3,\)"):
        SoftmaxCrossEntropy().forward(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match=r"prediction must be a floating-point array"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3), dtype=int), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"target must have shape \(2, 3\), got \(3, 2\)"):
        MSELoss().forward(np.zeros((2, 3)), np.zeros((3, 2)))
    for loss in (SoftmaxCrossEntropy(), MSELoss()):
        with pytest.raises(RuntimeError, match=r"backward was called before forward"):
            loss.backward()
    loss = MSELoss()
    loss.forward(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match=r"dloss must be a scalar, got shape \(2,\)"):
        loss.backward(np.ones(2))


LOSS_CASES = [
    (SoftmaxCrossEntropy, np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]]), np.array([2, 0])),
    (MSELoss, np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[0.0, 1.0], [1.5, -0.5]])),
    (TemporalSoftmaxCrossEntropy, np.array([[[0.5, -1.0], [2.0, 0.0]]]), np.array([[1, 0]])),
]


@pytest.mark.parametrize(("make", "prediction", "target"), LOSS_CASES,
                         ids=lambda case: getattr(case, "__name__", ""))
def test_every_loss_takes_prediction_and_target_under_those_names(make, prediction, target):
    names = list(inspect.signature(make.forward).parameters)
    assert names[:3] == ["self", "prediction", "target"]
    by_keyword = make().forward(target=target, prediction=prediction)
    assert by_keyword == make().forward(prediction, target)
