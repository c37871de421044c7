"""Sequence data that needs no download, and truncated backpropagation through time.

Synthetic tasks that probe long-range memory (the classic tests of vanishing gradients):

- :func:`adding_problem`: add the two marked numbers of a long sequence;
- :func:`copy_task`: reproduce a few symbols after a long pause.

Text for a character-level model: :func:`load_text_corpus` (English prose that ships with
Python itself) and :class:`CharVocab` (characters <-> integer ids).

Truncated BPTT: :func:`truncated_bptt_windows` cuts T steps into windows of k, and
:func:`truncated_bptt` computes a recurrent layer's gradients over a long sequence window by
window: the state is carried from one window to the next (the forward pass is exact), the
gradient is cut at each window's start (dL/dh0 of a window is dropped). A training loop does
the same, with an optimizer step after each window::

    state = None                       # zeros for the first window
    for window in truncated_bptt_windows(T, k):
        h = rnn.forward(x[:, window], *initial_state_args(state))
        loss = loss_fn.forward(readout.forward(h), y[:, window])
        rnn.backward(readout.backward(loss_fn.backward()))   # stops at the window's start
        clip_grad_norm([g for _, g in model.parameters()], 5.0)
        optimizer.step()
        state = rnn.last_state         # carried: the next window starts where this one ended
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.layers._validate import check_float_array, check_positive_int, require_shape

__all__ = [
    "CORPUS_TOPICS",
    "CharVocab",
    "adding_problem",
    "copy_task",
    "copy_task_baseline",
    "initial_state_args",
    "load_text_corpus",
    "truncated_bptt",
    "truncated_bptt_windows",
]


def _generator(rng: object, where: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{where}: rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got "
            f"{type(rng).__name__}"
        )
    return rng


# ----------------------------------------------------------------------------------------
# Synthetic long-memory tasks


def adding_problem(
    n: int, T: int, rng: np.random.Generator, *, dtype: DTypeLike = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: add the two marked numbers of a sequence of T random numbers.

    Each sequence has two channels: ``x[:, t, 0]`` ~ U[0, 1] and a marker ``x[:, t, 1]`` that
    is 1 at exactly two steps - one in the first half [0, T//2), one in the second half
    [T//2, T) - and 0 elsewhere. The target is the sum of the two marked values, in [0, 2].
    To solve it a network must keep the first marked value for up to T steps.

    The task is experiment 4 of Hochreiter & Schmidhuber (1997), "Long short-term memory";
    this is the simpler form used since Le, Jaitly & Hinton (2015), "A simple way to
    initialize recurrent networks of rectified linear units" (values in [0, 1], target the
    plain sum). Baseline: always predicting 1 gives a mean squared error of
    Var(u1 + u2) = 2/12 = 0.167; a model has learnt something when it gets well below that.

    Parameters
    ----------
    n : int
        Number of sequences, >= 1.
    T : int
        Sequence length, >= 2.
    rng : np.random.Generator
        Source of randomness.
    dtype : float dtype, default float64

    Returns
    -------
    x : np.ndarray
        Shape (n, T, 2): values and markers.
    y : np.ndarray
        Shape (n,): the sum of the two marked values.
    """
    where = "adding_problem"
    n = check_positive_int(n, "n", where)
    T = check_positive_int(T, "T", where)
    if T < 2:
        raise ValueError(f"{where}: T must be at least 2 (one marker in each half), got {T}")
    rng = _generator(rng, where)
    values = rng.uniform(0.0, 1.0, size=(n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    rows = np.arange(n)
    markers = np.zeros((n, T))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2).astype(dtype, copy=False)
    y = (values[rows, first] + values[rows, second]).astype(dtype, copy=False)
    return x, y


def copy_task(
    n: int,
    rng: np.random.Generator,
    *,
    length: int = 10,
    delay: int = 20,
    n_symbols: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """The copy (memory) task: read ``length`` symbols, wait ``delay`` steps, then repeat them.

    Tokens: 0 is the blank, 1..n_symbols the symbols, n_symbols + 1 the "go" marker; the
    vocabulary has n_symbols + 2 tokens. With L = 2 * length + delay steps::

        inputs:  s_1 .. s_length | 0 x (delay - 1) | go | 0 x length
        targets: 0 x (length + delay)                   | s_1 .. s_length

    The network must output blanks and then the stored symbols, the first of which it saw
    ``length + delay`` steps earlier. The task goes back to Hochreiter & Schmidhuber (1997);
    this is the setup of Arjovsky, Shah & Bengio (2016), "Unitary evolution recurrent neural
    networks" (10 symbols out of 8, blank 0, marker 9). Baseline: a model with no memory
    does no better than :func:`copy_task_baseline`.

    Parameters
    ----------
    n : int
        Number of sequences, >= 1.
    rng : np.random.Generator
        Source of randomness.
    length : int, default 10
        Number of symbols to remember, >= 1.
    delay : int, default 20
        Steps from the end of the symbols to the marker, >= 1.
    n_symbols : int, default 8
        Size of the alphabet, >= 1.

    Returns
    -------
    inputs : np.ndarray
        Shape (n, L), int64 token ids.
    targets : np.ndarray
        Shape (n, L), int64 token ids.
    """
    where = "copy_task"
    n = check_positive_int(n, "n", where)
    length = check_positive_int(length, "length", where)
    delay = check_positive_int(delay, "delay", where)
    n_symbols = check_positive_int(n_symbols, "n_symbols", where)
    rng = _generator(rng, where)
    total = 2 * length + delay
    symbols = rng.integers(1, n_symbols + 1, size=(n, length))
    inputs = np.zeros((n, total), dtype=np.int64)
    targets = np.zeros((n, total), dtype=np.int64)
    inputs[:, :length] = symbols
    inputs[:, length + delay - 1] = n_symbols + 1
    targets[:, length + delay :] = symbols
    return inputs, targets


def copy_task_baseline(length: int = 10, delay: int = 20, n_symbols: int = 8) -> float:
    """The mean cross-entropy per step of the best copy-task model that has no memory.

    Without memory the best guess is: blank at the first length + delay steps (certain), then
    a uniform guess among the n_symbols symbols, which costs log(n_symbols) at each of the
    last ``length`` steps. Averaged over all 2 * length + delay steps::

        baseline = length * log(n_symbols) / (2 * length + delay)

    (0.520 for the defaults.) A model that gets below it remembers something.

    Parameters
    ----------
    length, delay, n_symbols : int
        As in :func:`copy_task`.

    Returns
    -------
    float
        The baseline loss, in nats per step.
    """
    where = "copy_task_baseline"
    length = check_positive_int(length, "length", where)
    delay = check_positive_int(delay, "delay", where)
    n_symbols = check_positive_int(n_symbols, "n_symbols", where)
    return length * math.log(n_symbols) / (2 * length + delay)


# ----------------------------------------------------------------------------------------
# Text that ships with Python

CORPUS_TOPICS = ("objects", "types", "execmodel", "import", "truth")
"""The ``pydoc_data.topics`` entries that make up :func:`load_text_corpus`, in this order."""


def load_text_corpus() -> str:
    """English prose for a character-level model, from Python's own documentation.

    Every CPython installation includes ``pydoc_data.topics``, the texts that ``help()``
    shows for language topics, generated from the Python Language Reference. We join the
    topics in :data:`CORPUS_TOPICS` - "Objects, values and types", "The standard type
    hierarchy", "Execution model", "The import system", "Truth value testing" - with a blank
    line between them: explanatory prose with a few code names in quotes, 62 375
    characters and 92 distinct characters (letters, digits, punctuation, a few typographic
    quotes) on Python 3.11.7 (SHA-256 of the UTF-8 text begins 59e518d925eacb1f). Nothing is
    downloaded. The text is fixed for a given Python version; another version's
    documentation may differ by a few sentences. The Python documentation is distributed
    under the PSF license.

    Returns
    -------
    str
        The corpus.
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name].strip() for name in CORPUS_TOPICS) + "\n"


class CharVocab:
    """Map the characters of a text to integer ids 0..V-1 and back.

    The ids are assigned in sorted order of the characters, so the same text always gives the
    same vocabulary.

    Parameters
    ----------
    text : str
        The text whose distinct characters form the vocabulary; not empty.

    Attributes
    ----------
    chars : tuple of str
        The characters, ``chars[i]`` has id i.
    size : int
        V, the number of characters.
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError("CharVocab: text must be a non-empty string")
        self.chars: tuple[str, ...] = tuple(sorted(set(text)))
        self.size = len(self.chars)
        self._ids = {char: index for index, char in enumerate(self.chars)}

    def encode(self, text: str) -> np.ndarray:
        """The ids of the characters of ``text``.

        Parameters
        ----------
        text : str
            Any string made of the vocabulary's characters.

        Returns
        -------
        np.ndarray
            Shape (len(text),), int64.
        """
        try:
            return np.array([self._ids[char] for char in text], dtype=np.int64)
        except KeyError as error:
            raise ValueError(
                f"CharVocab.encode: character {error.args[0]!r} is not in the vocabulary of "
                f"{self.size} characters"
            ) from None

    def decode(self, ids: np.ndarray) -> str:
        """The text of a sequence of ids.

        Parameters
        ----------
        ids : array-like of int
            Shape (L,), values in [0, V).

        Returns
        -------
        str
            A string of length L.
        """
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"CharVocab.decode: ids must be a 1-D integer array, got shape {ids.shape} "
                f"and dtype {ids.dtype}"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(f"CharVocab.decode: ids must lie in [0, {self.size})")
        return "".join(self.chars[i] for i in ids)

    def __repr__(self) -> str:
        return f"CharVocab({self.size} characters)"


# ----------------------------------------------------------------------------------------
# Truncated backpropagation through time


def truncated_bptt_windows(T: int, k: int) -> Iterator[slice]:
    """Cut the steps 0..T-1 into consecutive windows of k steps (the last may be shorter).

    Parameters
    ----------
    T : int
        Sequence length, >= 1.
    k : int
        Window length (the truncation length), >= 1.

    Yields
    ------
    slice
        ``slice(0, k)``, ``slice(k, 2k)``, ..., ending at T; use as ``x[:, window]``.
    """
    T = check_positive_int(T, "T", "truncated_bptt_windows")
    k = check_positive_int(k, "k", "truncated_bptt_windows")
    for start in range(0, T, k):
        yield slice(start, min(start + k, T))


def initial_state_args(state: Any) -> tuple[np.ndarray, ...]:
    """The positional state arguments of a recurrent forward, from a carried ``last_state``.

    Parameters
    ----------
    state : None, np.ndarray or tuple of np.ndarray
        None (start from zeros), an RNN's ``last_state`` h (N, H), or an LSTM's (h, c).

    Returns
    -------
    tuple of np.ndarray
        ``()``, ``(h,)`` or ``(h, c)``: call ``layer.forward(x, *initial_state_args(state))``.
    """
    if state is None:
        return ()
    return tuple(state) if isinstance(state, tuple) else (state,)


def truncated_bptt(
    layer: Any, x: np.ndarray, dh: np.ndarray, k: int, *, state: Any = None
) -> np.ndarray:
    """Gradients of a recurrent layer over a long sequence, with BPTT truncated every k steps.

    The sequence is run window by window (:func:`truncated_bptt_windows`); each window starts
    from the previous window's ``last_state``, so the hidden states are exactly those of one
    pass over the whole sequence. Each window's backward uses only its own upstream gradient
    ``dh[:, window]`` and drops the gradient that would flow into the previous window (its
    ``dh0``): the gradient is cut at every window boundary. The parameter gradients of the
    windows are summed, as if the loss of the whole sequence were optimised in one step.
    With k >= T this is exactly full BPTT.

    Parameters
    ----------
    layer : RNN or LSTM
        A recurrent layer: ``forward(x, *state)``, ``backward(dh)``, ``grads``,
        ``last_state``.
    x : np.ndarray
        Inputs, shape (N, T, D).
    dh : np.ndarray
        dL/dh_t for every step, shape (N, T, H).
    k : int
        Truncation length, >= 1.
    state : None, np.ndarray or tuple of np.ndarray, optional
        Initial state (as :func:`initial_state_args` takes it); zeros when None.

    Returns
    -------
    np.ndarray
        The truncated dL/dx, shape (N, T, D). ``layer.grads`` holds the parameter gradients
        summed over the windows; ``layer.last_state`` the state after step T-1.
    """
    check_float_array(x, "x", "truncated_bptt")
    require_shape(x, ("N", "T", "D"), "x", "truncated_bptt")
    check_float_array(dh, "dh", "truncated_bptt")
    require_shape(dh, (*x.shape[:2], "H"), "dh", "truncated_bptt")
    steps = x.shape[1]
    summed = {name: np.zeros_like(grad) for name, grad in layer.grads.items()}
    dx = np.empty_like(x)
    for window in truncated_bptt_windows(steps, k):
        layer.forward(x[:, window], *initial_state_args(state))
        dx[:, window] = layer.backward(dh[:, window])
        for name, grad in layer.grads.items():
            summed[name] += grad
        state = layer.last_state
    for name, grad in layer.grads.items():
        grad[...] = summed[name]
    return dx


