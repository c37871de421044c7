"""Digits split, minibatches and one-hot encoding."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from backprop_kit.data import load_digits_split, minibatches, one_hot


@pytest.fixture(scope="module")
def raw_split():
    return load_digits_split(test_size=0.25, seed=3, standardize=False)


@pytest.fixture(scope="module")
def standardized_split():
    return load_digits_split(test_size=0.25, seed=3)


def sorted_rows(X, y):
    """Rows of [X | y], sorted lexicographically: a canonical form of a multiset of samples."""
    table = np.column_stack([X, y])
    return table[np.lexsort(table.T[::-1])]


def test_split_shapes_and_dtypes(standardized_split):
    X_train, y_train, X_test, y_test = standardized_split
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert X_train.dtype == X_test.dtype == np.float64
    assert y_train.dtype == y_test.dtype == np.int64
    assert standardized_split.X_train is X_train  # fields by name too


def test_train_and_test_partition_the_data_set(raw_split):
    images, labels = load_digits(return_X_y=True)
    together = sorted_rows(
        np.vstack([raw_split.X_train, raw_split.X_test]),
        np.concatenate([raw_split.y_train, raw_split.y_test]),
    )
    np.testing.assert_array_equal(together, sorted_rows(images, labels))
    train_rows = {row.tobytes() for row in raw_split.X_train}
    assert not any(row.tobytes() in train_rows for row in raw_split.X_test)


def test_split_is_stratified(raw_split):
    train_share = np.bincount(raw_split.y_train, minlength=10) / len(raw_split.y_train)
    test_share = np.bincount(raw_split.y_test, minlength=10) / len(raw_split.y_test)
    np.testing.assert_allclose(train_share, test_share, atol=0.01)


def test_standardization_uses_training_statistics_only(raw_split, standardized_split):
    mean = raw_split.X_train.mean(axis=0)
    std = raw_split.X_train.std(axis=0)
    constant = std == 0
    assert constant.any()  # digits has always-blank border pixels: they must not give NaN
    scale = np.where(constant, 1.0, std)
    np.testing.assert_allclose(standardized_split.X_train, (raw_split.X_train - mean) / scale)
    np.testing.assert_allclose(standardized_split.X_test, (raw_split.X_test - mean) / scale)
    np.testing.assert_allclose(standardized_split.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(standardized_split.X_train.std(axis=0)[~constant], 1)
    # the test set was not standardized with its own statistics
    assert np.abs(standardized_split.X_test.mean(axis=0)).max() > 0.05


def test_same_seed_same_split_other_seed_other_split(raw_split):
    again = load_digits_split(test_size=0.25, seed=3, standardize=False)
    other = load_digits_split(test_size=0.25, seed=4, standardize=False)
    for a, b in zip(raw_split, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(raw_split.y_test, other.y_test)


@pytest.mark.parametrize("test_size", [0.0, 1.0, 5, "a quarter"])
def test_bad_test_size_raises(test_size):
    with pytest.raises(ValueError, match=r"test_size must be a fraction in \(0, 1\)"):
        load_digits_split(test_size=test_size)


def test_minibatches_cover_every_row_once_in_a_seeded_random_order():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    batches = list(minibatches(X, y, 4, np.random.default_rng(0)))
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    order = np.concatenate([yb for _, yb in batches])
    assert sorted(order) == list(range(10))
    assert not np.array_equal(order, np.arange(10))  # shuffled
    for X_batch, y_batch in batches:
        np.testing.assert_array_equal(X_batch, X[y_batch])  # rows stay paired with labels
    again = np.concatenate([yb for _, yb in minibatches(X, y, 4, np.random.default_rng(0))])
    np.testing.assert_array_equal(order, again)


def test_minibatches_without_shuffle_keep_the_order_and_need_no_rng():
    X = np.arange(14.0).reshape(7, 2)
    y = np.arange(7)
    batches = list(minibatches(X, y, 3, None, shuffle=False))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    np.testing.assert_array_equal(batches[-1][0], X[6:])


def test_minibatches_reject_bad_input():
    X, y = np.zeros((5, 2)), np.zeros(5, dtype=int)
    message = r"same, nonzero number of rows, got shapes \(5, 2\) and \(4,\)"
    with pytest.raises(ValueError, match=message):
        next(minibatches(X, y[:4], 2, np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 0"):
        next(minibatches(X, y, 0, np.random.default_rng(0)))
    with pytest.raises(TypeError, match=r"shuffling needs rng"):
        next(minibatches(X, y, 2, None))
    with pytest.raises(TypeError, match=r"numpy arrays, got list"):
        next(minibatches([[0.0]], y[:1], 1, None, shuffle=False))


def test_one_hot_puts_a_single_one_in_the_label_column():
    encoded = one_hot(np.array([2, 0, 3, 2]), 4)
    expected = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=float)
    np.testing.assert_array_equal(encoded, expected)
    assert encoded.dtype == np.float64
    assert one_hot(np.array([1]), 2, dtype=np.float32).dtype == np.float32


def test_one_hot_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for 3 classes, found 3"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(TypeError, match=r"integer array of class indices, got dtype float64"):
        one_hot(np.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\), got \(2, 1\)"):
        one_hot(np.array([[0], [1]]), 3)
    with pytest.raises(ValueError, match=r"num_classes must be a positive integer"):
        one_hot(np.array([0]), 0)
