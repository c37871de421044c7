"""Gradient checkpointing: keep fewer caches, recompute them during the backward pass.

A plain :class:`~backprop_kit.layers.Sequential` keeps every layer's cache from the forward
until the backward, so the memory grows with the depth L. Chen, Xu, Zhang & Guestrin (2016),
"Training deep nets with sublinear memory cost", cut the chain into segments: the forward keeps
only each segment's input (a *checkpoint*) and throws the caches inside it away; the backward,
segment by segment from the last, runs that segment's forward again from its checkpoint to get
its caches back, then its backward. With segments of about sqrt(L) layers the caches held at
any moment fall from about L to about 2 sqrt(L) layers' worth, for the price of one more
forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backprop_kit.layers.base import Layer, walk_layers
from backprop_kit.layers.sequential import Sequential

__all__ = ["CheckpointCache", "CheckpointedSequential"]

RandomStates = list[tuple[np.random.Generator, dict[str, Any]]]


@dataclass
class CheckpointCache:
    """What :class:`CheckpointedSequential` keeps between forward and backward.

    Attributes
    ----------
    segment_inputs : list of np.ndarray
        The input of every segment, in forward order (the first is the model's input x).
    random_states : list
        For every segment, the state of each random generator its layers draw from (Dropout's
        ``rng``, at any depth) just before the segment's forward, so that recomputing it draws
        the same masks.
    """

    segment_inputs: list[np.ndarray]
    random_states: list[RandomStates]


def _random_states(layers: list[Layer]) -> RandomStates:
    """The state of every distinct random generator held by these layers, at any depth."""
    generators = {
        id(value): value
        for layer in walk_layers(layers)
        for value in vars(layer).values()
        if isinstance(value, np.random.Generator)
    }
    return [(generator, generator.bit_generator.state) for generator in generators.values()]


def _restore(states: RandomStates) -> None:
    for generator, state in states:
        generator.bit_generator.state = state


def _free_caches(layers: list[Layer]) -> None:
    """Drop the caches of these layers and of every layer inside them."""
    for layer in walk_layers(layers):
        layer.cache = None


def _recompute(segment: list[Layer], x: np.ndarray, random_states: RandomStates) -> None:
    """Run a segment's forward again, exactly as the first time, to refill its caches.

    The generators go back to where they were before the first run (so the same masks are
    drawn), and the buffers (BatchNorm's running statistics) are put back after the run to
    where the first run left them: the recomputation changes nothing but the caches.
    """
    _restore(random_states)
    buffers = [
        (buffer, buffer.copy())
        for layer in walk_layers(segment)
        for buffer in getattr(layer, "buffers", {}).values()
    ]
    for layer in segment:
        x = layer.forward(x)
    for buffer, value in buffers:
        buffer[...] = value


class CheckpointedSequential(Sequential):
    """A :class:`Sequential` that keeps only segment inputs and recomputes the rest in backward.

    forward:  x -> y, the same as Sequential(*layers); the layers run in segments of
              ``segment_size``; every segment's input is kept in ``cache``, and the caches of
              every segment but the last are dropped as soon as the segment has run
    backward: dy -> dx, the same arrays as Sequential's, bit for bit; for each segment from
              the last: run its forward again from its saved input (not needed for the last
              segment, whose caches were kept), run its layers' backward in reverse, drop its
              caches

    A recomputation repeats the forward exactly and leaves no other trace, for layers at any
    depth (inside a Residual or a nested Sequential too): random layers (Dropout in training
    mode) draw the same masks, because the state of their generators is saved before each
    segment and put back for the recomputation (after the backward it is where the forward
    left it); and the buffers (BatchNorm's running statistics) are restored after it, so they
    are updated once per forward, as by Sequential. The backward drops every cache; call
    forward again before the next backward.

    Parameters
    ----------
    *layers
        Layers, as for :class:`Sequential` (at least one).
    segment_size : int
        Layers per segment, from 1 to ``len(layers)``; the last segment is shorter when it
        does not divide the number of layers. ``len(layers)`` keeps every cache (a plain
        backward, no recomputation); about sqrt(len(layers)) holds the least memory.

    Attributes
    ----------
    layers, params, grads, training
        As in :class:`Sequential`, under the same names (``"0.W"``, ...).
    segment_size : int
        As given.
    cache : CheckpointCache or None
        Segment inputs and generator states of the last forward; None before the first forward
        and after a backward.
    recomputed_forwards : int
        Layer forwards the last backward ran again (the layers of every segment but the last).
    """

    def __init__(self, *layers: Layer, segment_size: int) -> None:
        super().__init__(*layers)
        if not self.layers:
            raise ValueError("CheckpointedSequential needs at least one layer")
        if (
            isinstance(segment_size, bool)
            or not isinstance(segment_size, int | np.integer)
            or not 1 <= segment_size <= len(self.layers)
        ):
            raise ValueError(
                f"CheckpointedSequential: segment_size must be an integer from 1 to the number "
                f"of layers ({len(self.layers)}), got {segment_size!r}"
            )
        self.segment_size = int(segment_size)
        self.recomputed_forwards = 0

    @property
    def segments(self) -> list[list[Layer]]:
        """The layers in consecutive segments of ``segment_size`` (the last may be shorter)."""
        size = self.segment_size
        return [self.layers[start:start + size] for start in range(0, len(self.layers), size)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run every layer in order; keep the segment inputs and the last segment's caches only.

        Parameters
        ----------
        x : np.ndarray
            Input of the first layer, e.g. (N, in_features).

        Returns
        -------
        np.ndarray
            Output of the last layer, e.g. (N, n_classes), equal to Sequential's.
        """
        segments = self.segments
        inputs: list[np.ndarray] = []
        states: list[RandomStates] = []
        for index, segment in enumerate(segments):
            inputs.append(x)
            states.append(_random_states(segment))
            for layer in segment:
                x = layer.forward(x)
            if index < len(segments) - 1:
                _free_caches(segment)
        self.cache = CheckpointCache(segment_inputs=inputs, random_states=states)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Recompute each segment's caches from its saved input, then backpropagate through it.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy for the last layer's output.

        Returns
        -------
        np.ndarray or None
            dL/dx for the first layer's input, as Sequential returns it.
        """
        cache = self._cached()
        segments = self.segments
        after_forward = _random_states(self.layers)
        self.recomputed_forwards = 0
        for index in reversed(range(len(segments))):
            segment = segments[index]
            if index < len(segments) - 1:
                _recompute(segment, cache.segment_inputs[index], cache.random_states[index])
                self.recomputed_forwards += len(segment)
            for layer in reversed(segment):
                dy = layer.backward(dy)
            _free_caches(segment)
        _restore(after_forward)
        self.cache = None
        return dy

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({index}) {layer!r}" for index, layer in enumerate(self.layers))
        return f"CheckpointedSequential(segment_size={self.segment_size},\n{inner}\n)"
