"""A small convolutional network on the 8x8 digits, trained on shifted copies of the images.

The published result behind it: LeCun, Y., Boser, B., Denker, J. S., Henderson, D., Howard,
R. E., Hubbard, W. & Jackel, L. D. (1989), "Backpropagation applied to handwritten zip code
recognition", Neural Computation 1(4):541-551: a network of convolutional layers with shared
weights and subsampling, trained end to end by backpropagation, reads handwritten digits.
Training on shifted copies of the images is the simplest of the distortions with which
Simard, Steinkraus & Platt (2003), "Best practices for convolutional neural networks applied
to visual document analysis", ICDAR, enlarge the training set. The 8x8 scikit-learn digits and
the accuracy asserted are this course's, not a published number.

Pass criterion: notebook 07 runs it once (seed 0) and
``tests/experiments/test_experiments_digits_cnn.py`` with seeds 1-3; each run reaches at least
98% accuracy on the 450 test digits (with 6090 parameters and a falling training loss). The
pieces:

- :func:`digit_images`: the digits split as images (N, 1, 8, 8), pixels scaled to [0, 1] by
  one common factor (1/16), not standardized pixel by pixel;
- :func:`shifted` and :func:`with_shifted_copies`: the training set plus four copies moved by
  one pixel up, down, left and right, zeros moved in at the edge (5N images);
- :func:`small_cnn`: conv 3x3 (16) - ReLU - max pool 2 - conv 3x3 (32) - ReLU - max pool 2 -
  linear, about 6000 parameters;
- :func:`train_small_cnn`: Adam, learning rate 0.005 for four epochs then 0.0005 for one,
  minibatches of 64, with :func:`backprop_kit.train.fit`;
- :func:`train_digits_cnn`: build, train and evaluate one network, as a :class:`DigitsCNNRun`.

The matrices are small: run it with one BLAS thread
(``threadpoolctl.threadpool_limits(limits=1, user_api="blas")``), as the notebook and the tests
do; it takes a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.data import DigitsSplit, load_digits_split
from backprop_kit.layers import (
    Conv2D,
    Flatten,
    Linear,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
)
from backprop_kit.layers._validate import check_float_array, check_labels, require_shape
from backprop_kit.optim import Adam
from backprop_kit.train import evaluate, fit

__all__ = [
    "BATCH_SIZE",
    "SCHEDULE",
    "SHIFTS",
    "DigitsCNNRun",
    "digit_images",
    "shifted",
    "small_cnn",
    "train_digits_cnn",
    "train_small_cnn",
    "with_shifted_copies",
]

SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
"""(rows, cols) of each copy in :func:`with_shifted_copies`: the original, up, down, left, right."""
SCHEDULE = ((0.005, 4), (0.0005, 1))
"""(learning rate, epochs) of each stage of :func:`train_small_cnn`."""
BATCH_SIZE = 64
N_CLASSES = 10
PIXEL_MAX = 16.0
"""The digits' pixels are whole numbers 0..16."""


def digit_images(seed: int = 0) -> DigitsSplit:
    """The digits split (stratified, 25% test) as images with pixels in [0, 1].

    Parameters
    ----------
    seed : int, default 0
        Seed of the split (:func:`backprop_kit.data.load_digits_split`).

    Returns
    -------
    DigitsSplit
        X_train (1347, 1, 8, 8), y_train (1347,), X_test (450, 1, 8, 8), y_test (450,); the
        images are the raw pixels divided by 16.
    """
    X_train, y_train, X_test, y_test = load_digits_split(seed=seed, standardize=False)
    return DigitsSplit(X_train.reshape(-1, 1, 8, 8) / PIXEL_MAX, y_train,
                       X_test.reshape(-1, 1, 8, 8) / PIXEL_MAX, y_test)


def shifted(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Images moved down by ``rows`` and right by ``cols`` pixels, zeros moved in at the edge.

    Parameters
    ----------
    images : np.ndarray
        (N, C, H, W) float images.
    rows, cols : {-1, 0, 1}
        The shift along the height (positive: down) and along the width (positive: right).

    Returns
    -------
    np.ndarray
        (N, C, H, W): ``out[:, :, i, j] = images[:, :, i - rows, j - cols]`` where that index
        is inside the image, 0 elsewhere.
    """
    where = "shifted"
    require_shape(check_float_array(images, "images", where), ("N", "C", "H", "W"), "images",
                where)
    for name, value in (("rows", rows), ("cols", cols)):
        if value not in (-1, 0, 1) or isinstance(value, bool):
            raise ValueError(f"{where}: {name} must be -1, 0 or 1, got {value!r}")
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
    height, width = images.shape[2:]
    return padded[:, :, 1 - rows:1 - rows + height, 1 - cols:1 - cols + width]


def with_shifted_copies(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images and their copies shifted by one pixel up, down, left and right.

    Parameters
    ----------
    images : np.ndarray
        (N, C, H, W) float images.
    labels : np.ndarray
        (N,) int labels in [0, 10).

    Returns
    -------
    images : np.ndarray
        (5N, C, H, W): the originals first, then one block of N per shift of :data:`SHIFTS`.
    labels : np.ndarray
        (5N,) the labels repeated in the same order.
    """
    where = "with_shifted_copies"
    require_shape(check_float_array(images, "images", where), ("N", "C", "H", "W"), "images",
                where)
    check_labels(labels, len(images), N_CLASSES, where)
    return (np.concatenate([shifted(images, rows, cols) for rows, cols in SHIFTS]),
            np.tile(labels, len(SHIFTS)))


def small_cnn(seed: int) -> Sequential:
    """conv 3x3 (16) - ReLU - pool 2 - conv 3x3 (32) - ReLU - pool 2 - flatten - linear.

    Both convolutions have padding 1, so the maps go 8x8 -> 4x4 -> 2x2. The first convolution
    has ``input_grad=False`` (its input is data); 6,090 parameters in all.

    Parameters
    ----------
    seed : int
        Seed of the initial weights (drawn layer by layer from one generator).

    Returns
    -------
    Sequential
        Images (N, 1, 8, 8) -> class scores (N, 10).
    """
    gen = np.random.default_rng(seed)
    return Sequential(Conv2D(1, 16, 3, padding=1, rng=gen, input_grad=False), ReLU(),
                      MaxPool2D(2),
                      Conv2D(16, 32, 3, padding=1, rng=gen), ReLU(), MaxPool2D(2),
                      Flatten(), Linear(32 * 2 * 2, N_CLASSES, rng=gen))


def train_small_cnn(
    model: Sequential, images: np.ndarray, labels: np.ndarray, seed: int
) -> np.ndarray:
    """Train ``model`` in place with Adam and softmax cross-entropy, stage by stage of
    :data:`SCHEDULE` (lr 0.005 for 4 epochs, then 0.0005 for 1), minibatches of 64.

    Parameters
    ----------
    model : Sequential
        E.g. from :func:`small_cnn`.
    images : np.ndarray
        (N, 1, 8, 8) training images.
    labels : np.ndarray
        (N,) int labels.
    seed : int
        Seed of the minibatch order (one generator for all epochs).

    Returns
    -------
    np.ndarray
        (5,) mean training loss of each epoch, in nats.
    """
    loss = SoftmaxCrossEntropy()
    optimizer = Adam(model.parameters(), lr=SCHEDULE[0][0])
    gen = np.random.default_rng(seed)
    epoch_losses: list[float] = []
    for lr, epochs in SCHEDULE:
        optimizer.lr = lr
        history = fit(model, loss, optimizer, images, labels, epochs=epochs,
                      batch_size=BATCH_SIZE, rng=gen, progress=False)
        epoch_losses += history.train_loss
    return np.array(epoch_losses)


@dataclass(frozen=True)
class DigitsCNNRun:
    """One trained :func:`small_cnn` and how it did.

    Attributes
    ----------
    seed : int
        Seed of the weights and of the minibatch order.
    model : Sequential
        The trained network, images (N, 1, 8, 8) -> scores (N, 10).
    epoch_losses : np.ndarray
        (5,) mean training loss of each epoch, in nats.
    test_accuracy : float
        Fraction of the test images classified correctly.
    """

    seed: int
    model: Sequential
    epoch_losses: np.ndarray
    test_accuracy: float

    @property
    def n_parameters(self) -> int:
        """Number of trained weights and biases."""
        return sum(p.size for p in self.model.params.values())


def train_digits_cnn(
    images: np.ndarray,
    labels: np.ndarray,
    images_test: np.ndarray,
    labels_test: np.ndarray,
    seed: int,
) -> DigitsCNNRun:
    """Build a :func:`small_cnn`, train it with :func:`train_small_cnn`, test it.

    Parameters
    ----------
    images : np.ndarray
        (N, 1, 8, 8) training images (in the notebook, :func:`with_shifted_copies` of them).
    labels : np.ndarray
        (N,) int labels in [0, 10).
    images_test : np.ndarray
        (M, 1, 8, 8) test images.
    labels_test : np.ndarray
        (M,) int labels.
    seed : int
        Seeds the weights and, separately, the minibatch order.

    Returns
    -------
    DigitsCNNRun
    """
    where = "train_digits_cnn"
    for name, X, y in (("images", images, labels), ("images_test", images_test, labels_test)):
        require_shape(check_float_array(X, name, where), ("N", 1, 8, 8), name, where)
        check_labels(y, len(X), N_CLASSES, where)
    model = small_cnn(seed)
    epoch_losses = train_small_cnn(model, images, labels, seed)
    _, accuracy = evaluate(model, SoftmaxCrossEntropy(), images_test, labels_test)
    return DigitsCNNRun(seed=seed, model=model, epoch_losses=epoch_losses,
                        test_accuracy=float(accuracy))
