"""Training curves, drawn in the colour-blind-safe Okabe-Ito palette."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from backprop_kit.train import History

__all__ = ["OKABE_ITO", "plot_history"]

OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
"""Okabe & Ito (2008), "Color Universal Design": eight colours told apart with any colour vision."""

_TRAIN = {"color": OKABE_ITO["blue"], "linestyle": "-", "marker": "o", "label": "training"}
_VAL = {"color": OKABE_ITO["vermillion"], "linestyle": "--", "marker": "s", "label": "validation"}


def _draw(ax: Axes, train: list[float], val: list[float], ylabel: str, title: str) -> None:
    epochs = np.arange(1, len(train) + 1)
    ax.plot(epochs, train, markersize=3, **_TRAIN)
    if val:
        ax.plot(epochs, val, markersize=3, **_VAL)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)


def plot_history(history: History, ax: Axes | Sequence[Axes] | None = None) -> list[Axes]:
    """Plot the loss (log scale) and, if recorded, the accuracy per epoch.

    Training curves are solid blue circles, validation curves dashed vermillion squares, so
    they differ in colour, line style and marker alike.

    Parameters
    ----------
    history : History
        As returned by :func:`backprop_kit.train.fit`.
    ax : Axes or sequence of Axes, optional
        Where to draw: one Axes for the loss only; two for loss and accuracy. By default a
        new figure with one panel per recorded metric (loss, and accuracy if recorded).

    Returns
    -------
    list of Axes
        The axes drawn on: [loss] or [loss, accuracy].
    """
    if not history.train_loss:
        raise ValueError("plot_history: the history is empty (no epoch was recorded)")
    if ax is None:
        import matplotlib.pyplot as plt

        n_panels = 2 if history.train_accuracy else 1
        _, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.5), squeeze=False)
        axes = list(axes[0])
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) not in (1, 2) or (len(axes) == 2 and not history.train_accuracy):
        raise ValueError(
            f"plot_history: got {len(axes)} axes; pass one (loss) or two (loss, accuracy, "
            "which needs a history with accuracy)"
        )
    log_scale = min(history.train_loss + history.val_loss) > 0
    loss_label = "loss (log scale)" if log_scale else "loss"
    _draw(axes[0], history.train_loss, history.val_loss, loss_label, "Loss per epoch")
    if log_scale:
        axes[0].set_yscale("log")
    if len(axes) == 2:
        _draw(
            axes[1],
            history.train_accuracy,
            history.val_accuracy,
            "accuracy (fraction correct)",
            "Accuracy per epoch",
        )
        axes[1].set_ylim(0, 1.02)
    return axes
