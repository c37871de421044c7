"""Embedding: lookup, the scatter-add gradient with repeated ids (finite differences and an
explicit loop), and error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_gradients
from backprop_kit.layers import Embedding


def embedding_check(layer, idx, seed):
    """Finite-difference check of dW, L = sum(dy * W[idx]) with a random dy."""

    def forward(W):
        return layer.forward(idx)  # reads the perturbed table through layer.params

    def backward(dy):
        assert layer.backward(dy) is None
        return dict(layer.grads)

    return check_gradients(forward, backward, {"W": layer.params["W"]}, seed=seed)


def test_forward_looks_up_one_row_per_id():
    layer = Embedding(6, 3, rng=np.random.default_rng(0))
    idx = np.array([[0, 5, 2, 5], [1, 1, 3, 0]])
    out = layer.forward(idx)
    assert out.shape == (2, 4, 3)
    for n in range(2):
        for t in range(4):
            np.testing.assert_array_equal(out[n, t], layer.params["W"][idx[n, t]])


def test_gradient_with_repeated_ids_matches_finite_differences():
    rng = np.random.default_rng(1)
    layer = Embedding(5, 3, rng=rng)
    idx = np.array([[2, 2, 0, 2, 4], [0, 2, 2, 1, 0]])  # id 2 five times, id 3 never
    embedding_check(layer, idx, seed=2).raise_if_failed()


def test_gradient_sums_the_rows_of_every_occurrence_and_is_zero_for_unused_ids():
    rng = np.random.default_rng(0)
    layer = Embedding(5, 2, rng=rng)
    idx = np.array([[1, 3, 1], [1, 0, 3]])
    dy = rng.standard_normal((2, 3, 2))
    layer.forward(idx)
    layer.backward(dy)
    expected = np.zeros((5, 2))
    for n in range(2):
        for t in range(3):
            expected[idx[n, t]] += dy[n, t]
    np.testing.assert_allclose(layer.grads["W"], expected, rtol=1e-15)
    assert not layer.grads["W"][[2, 4]].any()


def test_backward_overwrites_the_gradient_instead_of_accumulating():
    rng = np.random.default_rng(0)
    layer = Embedding(4, 2, rng=rng)
    grad = layer.grads["W"]
    idx, dy = np.array([[0, 1]]), rng.standard_normal((1, 2, 2))
    for _ in range(2):
        layer.forward(idx)
        layer.backward(dy)
    assert layer.grads["W"] is grad
    np.testing.assert_allclose(grad[:2], dy[0])


@settings(max_examples=20, deadline=None)
@given(
    vocab=st.integers(1, 4),
    n=st.integers(1, 3),
    steps=st.integers(1, 6),
    dim=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_embedding_gradient_is_right_for_small_vocabularies_with_many_repeats(
    vocab, n, steps, dim, seed
):
    rng = np.random.default_rng(seed)
    layer = Embedding(vocab, dim, rng=rng)
    idx = rng.integers(0, vocab, size=(n, steps))
    embedding_check(layer, idx, seed=seed).raise_if_failed()


def test_float32_table_gives_float32_output():
    layer = Embedding(4, 3, rng=np.random.default_rng(0), dtype=np.float32)
    assert layer.forward(np.array([[0, 3]])).dtype == np.float32
    assert layer.params["W"].dtype == layer.grads["W"].dtype == np.float32


def test_initial_table_is_standard_normal():
    table = Embedding(400, 50, rng=np.random.default_rng(0)).params["W"]
    assert abs(table.mean()) < 0.02 and abs(table.std() - 1) < 0.02


def test_embedding_errors_name_expected_and_actual_values():
    layer = Embedding(5, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Embedding\(5, 3\)\.forward: idx must lie in \[0, 5\) "
                       r"for 5 tokens, found 7"):
        layer.forward(np.array([[0, 7]]))
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 5\) for 5 tokens, found -1"):
        layer.forward(np.array([[-1, 0]]))
    with pytest.raises(TypeError, match=r"idx must be an integer array of indices, got dtype "
                       r"float64"):
        layer.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"idx must have shape \(N, T\), got \(4,\)"):
        layer.forward(np.arange(4))
    with pytest.raises(TypeError, match=r"idx must be a numpy array, got list"):
        layer.forward([[0, 1]])
    layer.forward(np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 2, 3\), got \(1, 2, 4\)"):
        layer.backward(np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"Embedding: vocab_size must be a positive integer"):
        Embedding(0, 3, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"rng must be a np.random.Generator"):
        Embedding(3, 3, rng=0)
