"""Pieces shared by the experiments that build networks from the kit's layers on the digits.

:func:`digits` is the standardized split they all use, :func:`gaussian_linear` a Linear layer
with N(0, std**2) weights, :data:`ACTIVATIONS` the nonlinearities by name. Used by
:mod:`~backprop_experiments.depth_probe`, :mod:`~backprop_experiments.batch_norm` and
:mod:`~backprop_experiments.residual`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np

from backprop_kit.data import DigitsSplit, load_digits_split
from backprop_kit.layers import Linear, ReLU, Sigmoid, Tanh

__all__ = ["ACTIVATIONS", "Activation", "digits", "gaussian_linear"]

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
"""The activations the experiments take, by name."""

Activation = Literal["relu", "sigmoid", "tanh"]


@lru_cache(maxsize=1)
def digits() -> DigitsSplit:
    """The standardized digits split the experiments use (seed 0, 25% test).

    Returns
    -------
    DigitsSplit
        X_train (1347, 64), y_train (1347,), X_test (450, 64), y_test (450,).
    """
    return load_digits_split(seed=0)


def gaussian_linear(fan_in: int, fan_out: int, std: float, rng: np.random.Generator) -> Linear:
    """A Linear layer (fan_in -> fan_out) whose weights are drawn from N(0, std**2), bias 0.

    Parameters
    ----------
    fan_in, fan_out : int
        Sizes of the input and the output.
    std : float
        Standard deviation of the weights.
    rng : np.random.Generator
        Draws the weights.

    Returns
    -------
    Linear
        W (fan_in, fan_out), b (fan_out,) = 0.
    """
    layer = Linear(fan_in, fan_out, rng=rng)
    layer.params["W"][...] = rng.normal(0.0, std, size=(fan_in, fan_out))
    return layer
