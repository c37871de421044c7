"""The small CNN of notebook 07 (backprop through convolutions), over seeds the notebook does
not use.

The notebook trains :func:`backprop_experiments.digits_cnn.train_digits_cnn` once, with
seed 0, and asserts at least 98% test accuracy. Here the same function trains the network with
seeds 1-3, so the claim does not rest on one lucky seed.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from backprop_experiments.digits_cnn import (
    digit_images,
    shifted,
    small_cnn,
    train_digits_cnn,
    with_shifted_copies,
)


@pytest.fixture(scope="module")
def digits():
    """Training and test images (N, 1, 8, 8) in [0, 1] and labels, as the notebook makes them."""
    return digit_images()


def test_digit_images_are_the_raw_pixels_over_16_in_the_shape_of_one_channel_images(digits):
    X_train, y_train, X_test, y_test = digits
    assert X_train.shape == (1347, 1, 8, 8) and X_test.shape == (450, 1, 8, 8)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    assert np.array_equal(X_train * 16, np.round(X_train * 16))  # whole-number pixels 0..16


def test_shifted_copies_move_every_image_by_one_pixel_with_zeros_at_the_edge():
    images = np.arange(2 * 1 * 3 * 4, dtype=float).reshape(2, 1, 3, 4) + 1
    labels = np.array([3, 7])
    augmented, augmented_labels = with_shifted_copies(images, labels)
    assert augmented.shape == (10, 1, 3, 4)
    assert np.array_equal(augmented_labels, np.tile(labels, 5))
    assert np.array_equal(augmented[:2], images)
    moved_down = shifted(images, 1, 0)
    assert np.array_equal(moved_down[:, :, 1:], images[:, :, :-1])
    assert not moved_down[:, :, 0].any()
    moved_left = shifted(images, 0, -1)
    assert np.array_equal(moved_left[:, :, :, :-1], images[:, :, :, 1:])
    assert not moved_left[:, :, :, -1].any()


def test_bad_shifts_and_inputs_raise_errors_naming_what_was_expected():
    images = np.zeros((2, 1, 3, 4))
    with pytest.raises(ValueError, match=r"shifted: rows must be -1, 0 or 1, got 2"):
        shifted(images, 2, 0)
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\), got \(3, 4\)"):
        shifted(images[0, 0], 0, 1)
    with pytest.raises(ValueError, match="labels"):
        with_shifted_copies(images, np.array([1, 2, 3]))
    wrong_size = r"images must have shape \(N, 1, 8, 8\), got \(2, 1, 3, 4\)"
    with pytest.raises(ValueError, match=wrong_size):
        train_digits_cnn(images, np.array([1, 2]), images, np.array([1, 2]), seed=0)


def test_small_cnn_maps_8x8_images_to_10_scores_with_6090_parameters():
    model = small_cnn(seed=4)
    scores = model.forward(np.random.default_rng(0).uniform(size=(3, 1, 8, 8)))
    assert scores.shape == (3, 10)
    # conv 16 * (1 * 9) + 16, conv 32 * (16 * 9) + 32, linear 128 * 10 + 10
    assert sum(p.size for p in model.params.values()) == 160 + 4640 + 1290
    assert not np.array_equal(small_cnn(seed=4)[0].params["W"], small_cnn(seed=5)[0].params["W"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_small_cnn_reaches_98_percent_test_accuracy_with_other_seeds(digits, seed):
    images_train, labels_train, images_test, labels_test = digits
    images, labels = with_shifted_copies(images_train, labels_train)
    with threadpool_limits(limits=1, user_api="blas"):   # as the notebook does
        run = train_digits_cnn(images, labels, images_test, labels_test, seed=seed)
    losses = run.epoch_losses
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert run.n_parameters == 6090 and run.seed == seed
    assert run.test_accuracy >= 0.98, f"seed {seed}: test accuracy {run.test_accuracy:.4f}"
