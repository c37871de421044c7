"""Causal scaled dot-product attention, as functions and as a multi-head self-attention layer.

Attention (Vaswani et al. 2017, "Attention is all you need", Sec. 3.2) lets every position
of a sequence read from every position it may see. With queries q (T, d), keys k (T, d) and
values v (T, d_v) of one sequence (one head):

    S = q @ k.T / sqrt(d)            scores, (T, T): S[i, j] = how much query i matches key j
    P = softmax over each row of S,  keys j > i masked out (a causal model may not look ahead)
    out = P @ v                      (T, d_v): row i is a weighted mean of the values it sees

The backward pass, read off the shapes
--------------------------------------
Each line is a matrix product, so each gradient is the upstream gradient times the *other*
factor, transposed so that the shapes fit (notebook 03):

    dv = P.T @ dout                  (T, d_v)
    dP = dout @ v.T                  (T, T)
    dS = P * (dP - sum_j(dP * P))    the softmax's backward, row by row (below)
    dq = dS @ k / sqrt(d)            (T, d)
    dk = dS.T @ q / sqrt(d)          (T, d)

For one row p = softmax(s), dp_j/ds_i = p_j (delta_ij - p_i), so
``ds_i = sum_j dp_j p_j (delta_ij - p_i) = p_i (dp_i - sum_j dp_j p_j)``: the upstream
gradient minus its p-weighted mean, times p. A masked entry has p = 0, so its score gets no
gradient, whatever dP holds there: the mask needs no special case in the backward pass, only
in the forward (the score is set to -inf before the softmax, and exp(-inf) = 0 exactly).
Every row must keep at least one key (the causal mask keeps the diagonal), else its softmax is
0 / 0.

All the functions take any number of leading axes (a batch, heads), so one call does every
sequence and every head; ``swapaxes(-1, -2)`` transposes the last two axes only.

Memory: the layer caches P, one (T, T) matrix per sequence and head, so its cache grows as
N * H * T**2 while everything else it keeps grows as N * T * D: for long sequences the
attention matrices dominate (notebook 12 measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.init import xavier_uniform
from backprop_kit.layers._validate import (
    check_dtype,
    check_float_array,
    check_positive_int,
    check_upstream,
    require_shape,
)
from backprop_kit.layers.base import Layer

__all__ = [
    "AttentionCache",
    "MultiHeadSelfAttention",
    "causal_mask",
    "masked_softmax",
    "masked_softmax_backward",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
]


def causal_mask(steps: int) -> np.ndarray:
    """Which keys each query may attend to in a causal model: key j only if j <= i.

    Parameters
    ----------
    steps : int
        T, the sequence length.

    Returns
    -------
    np.ndarray
        Boolean, shape (T, T): ``mask[i, j]`` is True where query i may see key j (on and
        below the diagonal), False above it.
    """
    steps = check_positive_int(steps, "steps", "causal_mask")
    return np.tril(np.ones((steps, steps), dtype=bool))


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Softmax over the last axis, with the entries where ``mask`` is False set to 0.

    Parameters
    ----------
    scores : np.ndarray
        Shape (..., T_q, T_k), floating point.
    mask : np.ndarray or None
        Boolean, shape (T_q, T_k) (or any shape that broadcasts against scores): True where a
        key may be attended to. None keeps every entry. Every row must keep at least one.

    Returns
    -------
    np.ndarray
        P, shape and dtype of scores; each row sums to 1 over its kept entries, 0 elsewhere.
    """
    where = "masked_softmax"
    check_float_array(scores, "scores", where)
    if scores.ndim < 2:
        raise ValueError(f"{where}: scores must have shape (..., T_q, T_k), got {scores.shape}")
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(f"{where}: mask must be a boolean numpy array (True = keep)")
        if not np.all(np.any(mask, axis=-1)):
            raise ValueError(f"{where}: every row of the mask must keep at least one key, "
                             "else its softmax is 0 / 0")
        scores = np.where(mask, scores, -np.inf)  # exp(-inf) = 0: masked keys get no weight
    shifted = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def masked_softmax_backward(dprobs: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Backward pass of :func:`masked_softmax`, from its output P.

    Parameters
    ----------
    dprobs : np.ndarray
        dL/dP, shape of P (..., T_q, T_k).
    probs : np.ndarray
        P, the forward's output (0 at masked entries).

    Returns
    -------
    np.ndarray
        dL/dscores = P * (dP - sum over the row of dP * P), shape of P; 0 at masked entries.
    """
    row_mean = np.sum(dprobs * probs, axis=-1, keepdims=True)  # the p-weighted mean of dP
    return probs * (dprobs - row_mean)


def _check_qkv(q: object, k: object, v: object, where: str) -> None:
    """q (..., T, d), k of q's shape, v (..., T, d_v): floating point, one batch shape."""
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_float_array(a, name, where)
        if a.ndim < 2:
            raise ValueError(f"{where}: {name} must have shape (..., T, features), got {a.shape}")
    if k.shape != q.shape:
        raise ValueError(f"{where}: k must have the shape of q {q.shape}, got {k.shape}")
    if v.shape[:-1] != q.shape[:-1]:
        expected = ", ".join(str(size) for size in q.shape[:-1])
        raise ValueError(f"{where}: v must have shape ({expected}, d_v), q's shape but the "
                         f"last axis, got {v.shape}")


def scaled_dot_product_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, *, causal: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``softmax(q @ k^T / sqrt(d)) @ v``, causal by default, for any leading axes.

    Parameters
    ----------
    q : np.ndarray
        Queries, shape (..., T, d).
    k : np.ndarray
        Keys, shape (..., T, d) (the same T: self-attention).
    v : np.ndarray
        Values, shape (..., T, d_v).
    causal : bool, default True
        Mask the keys after each query (key j > query i).

    Returns
    -------
    out : np.ndarray
        Shape (..., T, d_v).
    probs : np.ndarray
        The attention weights P, shape (..., T, T); row i sums to 1.
    """
    _check_qkv(q, k, v, "scaled_dot_product_attention")
    scale = 1.0 / np.sqrt(q.shape[-1])
    scores = (q @ k.swapaxes(-1, -2)) * q.dtype.type(scale)
    probs = masked_softmax(scores, causal_mask(q.shape[-2]) if causal else None)
    return probs @ v, probs


def scaled_dot_product_attention_backward(
    dout: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`scaled_dot_product_attention` (see the module docstring).

    Parameters
    ----------
    dout : np.ndarray
        dL/dout, shape (..., T, d_v).
    q, k : np.ndarray
        Shape (..., T, d), as given to the forward.
    v : np.ndarray
        Shape (..., T, d_v).
    probs : np.ndarray
        P from the forward, shape (..., T, T).

    Returns
    -------
    dq, dk : np.ndarray
        Shape (..., T, d).
    dv : np.ndarray
        Shape (..., T, d_v).
    """
    where = "scaled_dot_product_attention_backward"
    _check_qkv(q, k, v, where)
    check_float_array(dout, "dout", where)
    check_float_array(probs, "probs", where)
    require_shape(dout, (*v.shape[:-2], q.shape[-2], v.shape[-1]), "dout", where)
    require_shape(probs, (*q.shape[:-1], q.shape[-2]), "probs", where)
    scale = q.dtype.type(1.0 / np.sqrt(q.shape[-1]))
    dv = probs.swapaxes(-1, -2) @ dout
    dprobs = dout @ v.swapaxes(-1, -2)
    dscores = masked_softmax_backward(dprobs, probs) * scale
    dq = dscores @ k
    dk = dscores.swapaxes(-1, -2) @ q
    return dq, dk, dv


@dataclass
class AttentionCache:
    """What :class:`MultiHeadSelfAttention` keeps between forward and backward.

    Attributes
    ----------
    x : np.ndarray
        The input, shape (N, T, D).
    q, k, v : np.ndarray
        Queries, keys and values split into heads, shape (N, H, T, D / H) each.
    probs : np.ndarray
        The attention weights, shape (N, H, T, T): the part that grows as T**2.
    context : np.ndarray
        The heads' outputs side by side, the input of the output projection, shape (N, T, D).
    """

    x: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    probs: np.ndarray
    context: np.ndarray


class MultiHeadSelfAttention(Layer):
    """Multi-head (causal) self-attention over a batch of sequences.

    forward:  x (N, T, D) -> y (N, T, D):
              q = x Wq + bq, k = x Wk, v = x Wv + bv, each (N, T, D), split into H heads
              of D / H features (N, H, T, D / H); every head attends on its own,
              out_h = softmax(q_h k_h^T / sqrt(D / H), causal) v_h; the heads' outputs side by
              side form the context c (N, T, D); y = c Wo + bo
    backward: dy (N, T, D) -> dx (N, T, D); fills the grads of all seven parameters:
              dWo = c^T dy, dc = dy Wo^T, split into heads; the attention backward of every
              head (:func:`scaled_dot_product_attention_backward`) gives dq, dk, dv; their
              heads merged, dWq = x^T dq (over all N*T rows), and so on, and
              dx = dq Wq^T + dk Wk^T + dv Wv^T: x feeds three products, so its gradient is the
              sum of three terms

    With H = 1 this is single-head attention. Splitting into heads is only a reshape and a
    transpose, so the gradient of a split is the merge of the gradients. The keys have no
    bias: adding a vector bk to every key adds the same number q_i . bk to a whole row of
    scores, which the softmax ignores, so bk would never change the output and its gradient
    would be 0 (PyTorch's ``nn.MultiheadAttention`` has one all the same, and it learns
    nothing).

    Parameters
    ----------
    dim : int
        D, the size of every position's vector.
    n_heads : int
        H; must divide D.
    rng : np.random.Generator
        Draws the four weight matrices, Glorot uniform (Var = 1 / D); the three biases start
        at 0.
    causal : bool, default True
        Query i sees keys 0..i only (a language model must not read the character it predicts).
    dtype : float dtype, default float64
        Dtype of the parameters; x must have it.

    Attributes
    ----------
    params : dict
        ``"Wq"``, ``"Wk"``, ``"Wv"``, ``"Wo"`` (D, D) and ``"bq"``, ``"bv"``, ``"bo"`` (D,).
    grads : dict
        Same keys and shapes, overwritten by each backward.
    cache : AttentionCache
        Input, heads, attention weights and context of the last forward; ``cache.probs``
        (N, H, T, T) are the attention maps.
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        *,
        rng: np.random.Generator,
        causal: bool = True,
        dtype: DTypeLike = np.float64,
    ) -> None:
        where = "MultiHeadSelfAttention"
        self.dim = check_positive_int(dim, "dim", where)
        self.n_heads = check_positive_int(n_heads, "n_heads", where)
        if self.dim % self.n_heads:
            raise ValueError(f"{where}: n_heads must divide dim, got dim={self.dim} and "
                             f"n_heads={self.n_heads}")
        self.head_dim = self.dim // self.n_heads
        self.causal = bool(causal)
        weights = {name: xavier_uniform((self.dim, self.dim), rng, dtype=dtype)
                   for name in ("Wq", "Wk", "Wv", "Wo")}
        biases = {f"b{name}": np.zeros(self.dim, dtype=weights["Wq"].dtype) for name in "qvo"}
        super().__init__(**weights, **biases)

    def _split(self, a: np.ndarray) -> np.ndarray:
        """(N, T, D) -> (N, H, T, D / H): head h gets features h*D/H .. (h+1)*D/H - 1."""
        n, steps, _ = a.shape
        return a.reshape(n, steps, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge(self, a: np.ndarray) -> np.ndarray:
        """(N, H, T, D / H) -> (N, T, D): the inverse of :meth:`_split`."""
        n, _, steps, _ = a.shape
        return a.transpose(0, 2, 1, 3).reshape(n, steps, self.dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Attend within every sequence, every head on its own, then project.

        Parameters
        ----------
        x : np.ndarray
            Shape (N, T, D), dtype of the layer.

        Returns
        -------
        np.ndarray
            Shape (N, T, D).
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        require_shape(x, ("N", "T", self.dim), "x", where)
        check_dtype(x, self.params["Wq"].dtype, "x", where)
        p = self.params
        q = self._split(x @ p["Wq"] + p["bq"])
        k = self._split(x @ p["Wk"])  # no bias: see the class docstring
        v = self._split(x @ p["Wv"] + p["bv"])
        heads, probs = scaled_dot_product_attention(q, k, v, causal=self.causal)
        context = self._merge(heads)
        self.cache = AttentionCache(x=x, q=q, k=k, v=v, probs=probs, context=context)
        return context @ p["Wo"] + p["bo"]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Fill ``grads`` and return dx.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, T, D).

        Returns
        -------
        np.ndarray
            dL/dx, shape (N, T, D).
        """
        cache = self._cached()
        where = f"{self!r}.backward"
        x = cache.x
        dy = check_upstream(dy, x.shape, x.dtype, "dy", where)
        p, g = self.params, self.grads
        rows = x.reshape(-1, self.dim)  # the N*T positions share the weights: sum over all
        np.matmul(cache.context.reshape(-1, self.dim).T, dy.reshape(-1, self.dim), out=g["Wo"])
        np.sum(dy, axis=(0, 1), out=g["bo"])
        d_heads = self._split(dy @ p["Wo"].T)
        dq, dk, dv = scaled_dot_product_attention_backward(
            d_heads, cache.q, cache.k, cache.v, cache.probs)
        dx = np.zeros_like(x)
        for name, d_heads_of in (("q", dq), ("k", dk), ("v", dv)):
            d = self._merge(d_heads_of)
            np.matmul(rows.T, d.reshape(-1, self.dim), out=g[f"W{name}"])
            if name != "k":
                np.sum(d, axis=(0, 1), out=g[f"b{name}"])
            dx += d @ p[f"W{name}"].T
        return dx

    def __repr__(self) -> str:
        kind = "causal" if self.causal else "full"
        return f"MultiHeadSelfAttention({self.dim}, heads={self.n_heads}, {kind})"
