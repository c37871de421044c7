"""The embedding layer: a lookup table from token ids to vectors."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.layers._validate import check_indices, check_positive_int, check_upstream
from backprop_kit.layers.base import Layer

__all__ = ["Embedding"]


class Embedding(Layer):
    """Map integer token ids to rows of a trainable table W.

    forward:  idx (N, T) int in [0, vocab_size) -> y = W[idx], shape (N, T, dim)
    backward: dy (N, T, dim) -> None (ids have no gradient); fills grads:
              dW[v] = sum of dy[n, t] over every position (n, t) with idx[n, t] = v

    The lookup equals a one-hot row times W, so dW = onehot(idx)^T dy: a *scatter-add* of the
    upstream rows into the rows of the ids they came from. A token that occurs several times
    collects the sum of all its rows. ``dW[idx] += dy`` would be wrong (with repeated ids only
    the last write survives); the kit uses ``np.add.at``, which accumulates repeated indices,
    and is fast for this case in numpy >= 1.25. Ids that do not occur get a zero gradient.

    Parameters
    ----------
    vocab_size, dim : int
        V, the number of tokens, and the size of one embedding vector.
    rng : np.random.Generator
        Draws the initial table, standard normal N(0, 1) as in PyTorch's nn.Embedding.
    dtype : float dtype, default float64
        Dtype of W and of the output.

    Attributes
    ----------
    params : dict
        ``"W"`` (vocab_size, dim).
    grads : dict
        ``"W"`` (vocab_size, dim), overwritten by each backward.
    cache : np.ndarray
        The ids of the last forward, shape (N, T), kept by reference.
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        *,
        rng: np.random.Generator,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.vocab_size = check_positive_int(vocab_size, "vocab_size", "Embedding")
        self.dim = check_positive_int(dim, "dim", "Embedding")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"Embedding: rng must be a np.random.Generator (e.g. np.random.default_rng(0)),"
                f" got {type(rng).__name__}"
            )
        table = rng.standard_normal((self.vocab_size, self.dim)).astype(dtype, copy=False)
        super().__init__(W=table)

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """Look up the rows of W.

        Parameters
        ----------
        idx : np.ndarray
            Integer token ids, shape (N, T), values in [0, vocab_size).

        Returns
        -------
        np.ndarray
            ``W[idx]``, shape (N, T, dim), a fresh array.
        """
        check_indices(idx, ("N", "T"), self.vocab_size, "idx", f"{self!r}.forward", noun="tokens")
        self.cache = idx
        return self.params["W"][idx]

    def backward(self, dy: np.ndarray) -> None:
        """Scatter-add dy into the rows of dW; the ids get no gradient, so return None.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, T, dim).

        Returns
        -------
        None
        """
        idx = self._cached()
        where = f"{self!r}.backward"
        dy = check_upstream(dy, (*idx.shape, self.dim), self.params["W"].dtype, "dy", where)
        grad = self.grads["W"]
        grad.fill(0)
        np.add.at(grad, idx.reshape(-1), dy.reshape(-1, self.dim))
        return None

    def __repr__(self) -> str:
        return f"Embedding({self.vocab_size}, {self.dim})"
