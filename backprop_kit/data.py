"""The offline digits data set, minibatches and one-hot encoding.

The digits come with scikit-learn (``sklearn.datasets.load_digits``: 1797 greyscale 8x8 images
of handwritten digits, pixel values 0-16, ten classes of 174-183 images each), so nothing is
downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from backprop_kit.layers._validate import check_labels

__all__ = ["DigitsSplit", "load_digits_split", "minibatches", "one_hot"]


class DigitsSplit(NamedTuple):
    """A train/test split; unpacks as ``X_train, y_train, X_test, y_test``.

    Attributes
    ----------
    X_train : np.ndarray
        (N_train, 64) float64, one flattened 8x8 image per row.
    y_train : np.ndarray
        (N_train,) int64 labels 0-9.
    X_test : np.ndarray
        (N_test, 64) float64.
    y_test : np.ndarray
        (N_test,) int64.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(
    test_size: float = 0.25, seed: int = 0, standardize: bool = True
) -> DigitsSplit:
    """Load the digits and split them into train and test sets, stratified by class.

    Parameters
    ----------
    test_size : float, default 0.25
        Fraction of the 1797 images put into the test set, in (0, 1).
    seed : int, default 0
        Seed of the shuffle; the same seed gives the same split.
    standardize : bool, default True
        If True, every pixel is shifted and scaled by the mean and standard deviation of the
        *training* images only (the test set must not leak into preprocessing). Pixels that
        are constant over the training set are only shifted.

    Returns
    -------
    DigitsSplit
        ``X_train`` (N_train, 64), ``y_train`` (N_train,), ``X_test`` (N_test, 64),
        ``y_test`` (N_test,); X float64, y int64.
    """
    # imported here: scikit-learn takes about a second to import and only this function needs it
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not (isinstance(test_size, float) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    images, labels = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        images.astype(np.float64),
        labels.astype(np.int64),
        test_size=test_size,
        random_state=seed,
        stratify=labels,
    )
    if standardize:
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std[std == 0] = 1.0
        X_train = (X_train - mean) / std
        X_test = (X_test - mean) / std
    return DigitsSplit(X_train, y_train, X_test, y_test)


def minibatches(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None,
    shuffle: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs that together cover every sample exactly once.

    Parameters
    ----------
    X : np.ndarray
        Inputs, shape (N, ...).
    y : np.ndarray
        Targets, shape (N, ...).
    batch_size : int
        Rows per batch, >= 1; the last batch holds the remaining N % batch_size rows if any.
    rng : np.random.Generator or None
        Draws the order; may be None only when ``shuffle`` is False.
    shuffle : bool, default True
        Visit the rows in a random order (a new one per call) instead of in order.

    Yields
    ------
    tuple of np.ndarray
        X_batch (B, ...) and y_batch (B, ...) with B <= batch_size.
    """
    if not (isinstance(X, np.ndarray) and isinstance(y, np.ndarray)):
        raise TypeError(
            f"minibatches: X and y must be numpy arrays, got {type(X).__name__} and "
            f"{type(y).__name__}"
        )
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y) or len(X) == 0:
        raise ValueError(
            f"minibatches: X and y must have the same, nonzero number of rows, got shapes "
            f"{X.shape} and {y.shape}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"minibatches: batch_size must be a positive integer, got {batch_size!r}")
    if shuffle and not isinstance(rng, np.random.Generator):
        raise TypeError(
            "minibatches: shuffling needs rng, a np.random.Generator (e.g. "
            f"np.random.default_rng(0)), got {type(rng).__name__}"
        )
    n_samples = len(X)
    if shuffle:
        order = rng.permutation(n_samples)
        for start in range(0, n_samples, batch_size):
            rows = order[start : start + batch_size]
            yield X[rows], y[rows]
    else:
        for start in range(0, n_samples, batch_size):
            yield X[start : start + batch_size], y[start : start + batch_size]


def one_hot(labels: np.ndarray, num_classes: int, dtype: type = np.float64) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    Parameters
    ----------
    labels : np.ndarray
        Shape (N,), integers in [0, num_classes).
    num_classes : int
        C, the number of classes.
    dtype : dtype, default float64

    Returns
    -------
    np.ndarray
        Shape (N, C): row n is all zeros except a 1 in column ``labels[n]``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive integer, got {num_classes!r}")
    check_labels(labels, None, num_classes, "one_hot")
    encoded = np.zeros((len(labels), num_classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded
