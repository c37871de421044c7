"""The pieces of a transformer that are not attention: GELU, learned positions, the block.

A pre-LN transformer block (Xiong et al. 2020, "On layer normalization in the transformer
architecture"; the arrangement of GPT-2, Radford et al. 2019) adds two branches to the
*residual stream* x (N, T, D), each starting with a layer norm:

    h = x + attention(ln1(x))          (positions exchange information)
    y = h + mlp(ln2(h))                (each position on its own: Linear, GELU, Linear)

Its backward pass is the chain rule through those two lines, in reverse. Each line is a
residual connection, so each hands the upstream gradient down unchanged *and* adds what comes
back through its branch (notebook 10, He et al. 2016):

    dh = dy + ln2.backward(mlp.backward(dy))
    dx = dh + ln1.backward(attention.backward(dh))

A stack of such blocks keeps an identity path from the loss to the embeddings, however many
blocks there are. (The original transformer, Vaswani et al. 2017, normalized *after* each
addition, "post-LN", which puts a layer norm on that path; Xiong et al. show that its
gradients near the output are large at initialisation and that it needs a learning-rate
warm-up, which the pre-LN block does not.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from backprop_kit.layers._validate import (
    check_dtype,
    check_float_array,
    check_like,
    check_positive_int,
    check_upstream,
    require_shape,
)
from backprop_kit.layers.attention import MultiHeadSelfAttention
from backprop_kit.layers.base import Layer
from backprop_kit.layers.layernorm import LayerNorm
from backprop_kit.layers.sequential import Sequential
from backprop_kit.layers.temporal import TemporalLinear

__all__ = ["GELU", "GELUCache", "PositionalEmbedding", "TransformerBlock"]

_GELU_C = float(np.sqrt(2.0 / np.pi))
_GELU_A = 0.044715


@dataclass
class GELUCache:
    """What :class:`GELU` keeps between forward and backward.

    Attributes
    ----------
    x : np.ndarray
        The input, any shape.
    tanh_u : np.ndarray
        tanh(sqrt(2/pi) (x + 0.044715 x**3)), shape of x.
    """

    x: np.ndarray
    tanh_u: np.ndarray


class GELU(Layer):
    """Gaussian error linear unit, in the tanh approximation (not the exact erf form).

    forward:  x (any shape) -> y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x**3)
    backward: dy (shape of y) -> dx = dy * (
                  (1 + tanh(u)) / 2 + x/2 (1 - tanh(u)**2) sqrt(2/pi) (1 + 3 * 0.044715 x**2))

    The exact GELU is x Phi(x), with Phi the standard normal distribution function (Hendrycks &
    Gimpel 2016, "Gaussian error linear units"); the tanh form is their Sec. 2 approximation,
    the one GPT-2 uses and PyTorch's ``gelu(x, approximate="tanh")`` computes. It stays within
    about 5e-4 of x Phi(x) and needs no erf, which numpy lacks. Like a ReLU it passes large
    positive inputs and stops large negative ones, but it is smooth at 0 and has a small
    negative dip (minimum about -0.17 near x = -0.75).

    Attributes
    ----------
    cache : GELUCache
        x and tanh(u) of the last forward, shape of x.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return ``x/2 (1 + tanh(u))``, shape and dtype of x."""
        check_float_array(x, "x", "GELU.forward")
        c, a = x.dtype.type(_GELU_C), x.dtype.type(_GELU_A)
        tanh_u = np.tanh(c * (x + a * x * x * x))
        self.cache = GELUCache(x=x, tanh_u=tanh_u)
        return 0.5 * x * (1 + tanh_u)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dy * GELU'(x)``, shape of dy."""
        cache = self._cached()
        x, t = cache.x, cache.tanh_u
        dy = check_like(dy, x, "dy", "GELU.backward")
        c, a = x.dtype.type(_GELU_C), x.dtype.type(_GELU_A)
        du_dx = c * (1 + 3 * a * x * x)
        return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx)


class PositionalEmbedding(Layer):
    """Add a learned vector to every position of a sequence: ``y[:, t] = x[:, t] + P[t]``.

    forward:  x (N, T, D), T <= max_len -> y = x + P[:T], shape (N, T, D)
    backward: dy (N, T, D) -> dx = dy; fills grads: dP[t] = sum over n of dy[n, t] for
              t < T, dP[t] = 0 for the positions the batch did not reach

    Attention treats its input as a *set*: permuting the positions permutes the output the
    same way. Adding a different vector at every position is what tells the model where each
    character stands (Vaswani et al. 2017 add fixed sinusoids; GPT-2 learns the table, as
    here). P is shared by the N sequences, so its gradient sums over them.

    Parameters
    ----------
    max_len : int
        The longest sequence the table covers.
    dim : int
        D.
    rng : np.random.Generator
        Draws the table, N(0, std**2).
    std : float, default 0.1
        Standard deviation of the initial table, > 0.
    dtype : float dtype, default float64
        Dtype of P; x must have it.

    Attributes
    ----------
    params : dict
        ``"P"`` (max_len, D).
    grads : dict
        ``"P"`` (max_len, D), overwritten by each backward.
    cache : tuple of int
        (N, T) of the last forward.
    """

    def __init__(
        self,
        max_len: int,
        dim: int,
        *,
        rng: np.random.Generator,
        std: float = 0.1,
        dtype: DTypeLike = np.float64,
    ) -> None:
        where = "PositionalEmbedding"
        self.max_len = check_positive_int(max_len, "max_len", where)
        self.dim = check_positive_int(dim, "dim", where)
        if not (isinstance(std, int | float) and not isinstance(std, bool) and std > 0):
            raise ValueError(f"{where}: std must be a positive number, got {std!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{where}: rng must be a np.random.Generator (e.g. "
                            f"np.random.default_rng(0)), got {type(rng).__name__}")
        table = (std * rng.standard_normal((self.max_len, self.dim))).astype(dtype, copy=False)
        super().__init__(P=table)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Add P[t] at every position t.

        Parameters
        ----------
        x : np.ndarray
            Shape (N, T, D) with T <= max_len, dtype of the layer.

        Returns
        -------
        np.ndarray
            Shape (N, T, D).
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        require_shape(x, ("N", "T", self.dim), "x", where)
        check_dtype(x, self.params["P"].dtype, "x", where)
        n, steps = x.shape[:2]
        if steps > self.max_len:
            raise ValueError(f"{where}: the sequences have T = {steps} steps, more than the "
                             f"{self.max_len} positions the table covers")
        self.cache = (n, steps)
        return x + self.params["P"][:steps]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Fill ``grads`` with dP and return dx = dy.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, T, D).

        Returns
        -------
        np.ndarray
            dL/dx, shape (N, T, D) (dy itself in the layer's dtype: the addition passes it on).
        """
        n, steps = self._cached()
        where = f"{self!r}.backward"
        dy = check_upstream(dy, (n, steps, self.dim), self.params["P"].dtype, "dy", where)
        grad = self.grads["P"]
        grad.fill(0)
        np.sum(dy, axis=0, out=grad[:steps])
        return dy

    def __repr__(self) -> str:
        return f"PositionalEmbedding({self.max_len}, {self.dim})"


class TransformerBlock(Layer):
    """A pre-LN transformer block: two residual branches, attention and an MLP.

    forward:  x (N, T, D) -> h = x + attn(ln1(x)), y = h + mlp(ln2(h)), shape (N, T, D)
    backward: dy (N, T, D) -> dh = dy + ln2.backward(mlp.backward(dy)),
              dx = dh + ln1.backward(attn.backward(dh)), shape (N, T, D); fills every inner
              layer's grads

    ``mlp`` is ``Sequential(TemporalLinear(D, mlp_ratio * D), GELU(), TemporalLinear(...,
    D))``: the same two-layer network at every position. See the module docstring for why the
    two additions keep the gradient alive.

    Parameters
    ----------
    dim : int
        D, the width of the residual stream.
    n_heads : int
        Heads of the attention; must divide D.
    rng : np.random.Generator
        Draws every weight: the attention's (see :class:`MultiHeadSelfAttention`), the MLP's
        first layer He-normal, its second Glorot-uniform.
    mlp_ratio : int, default 4
        Hidden width of the MLP as a multiple of D (4 in Vaswani et al. and GPT-2).
    causal : bool, default True
        Passed to the attention.
    dtype : float dtype, default float64
        Dtype of every parameter; x must have it.

    Attributes
    ----------
    ln1, ln2 : LayerNorm
        The layer norms at the start of the two branches.
    attn : MultiHeadSelfAttention
        The attention branch.
    mlp : Sequential
        The MLP branch.
    params, grads : dict[str, np.ndarray]
        Every inner layer's arrays, keyed ``"<layer>.<name>"`` (``"attn.Wq"``, ``"mlp.0.W"``,
        ``"ln1.gamma"``, ...): the layers' own arrays, not copies.
    training : bool
        Setting it sets it on every inner layer.
    cache : tuple
        Shape and dtype of the last forward's input (the inner layers keep their own caches).
    dh : np.ndarray or None
        dL/dh, the gradient in the residual stream between the two branches, (N, T, D),
        after backward.
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        *,
        rng: np.random.Generator,
        mlp_ratio: int = 4,
        causal: bool = True,
        dtype: DTypeLike = np.float64,
    ) -> None:
        where = "TransformerBlock"
        self.dim = check_positive_int(dim, "dim", where)
        hidden = self.dim * check_positive_int(mlp_ratio, "mlp_ratio", where)
        self.ln1 = LayerNorm(self.dim, dtype=dtype)
        self.attn = MultiHeadSelfAttention(self.dim, n_heads, rng=rng, causal=causal,
                                           dtype=dtype)
        self.ln2 = LayerNorm(self.dim, dtype=dtype)
        self.mlp = Sequential(TemporalLinear(self.dim, hidden, rng=rng, dtype=dtype), GELU(),
                              TemporalLinear(hidden, self.dim, rng=rng, init="xavier",
                                             dtype=dtype))
        self.cache = None
        self.dh: np.ndarray | None = None
        self._training = True
        # Layer.__init__ is not called: params, grads and training are the inner layers'.

    def _named_layers(self) -> dict[str, Layer]:
        return {"ln1": self.ln1, "attn": self.attn, "ln2": self.ln2, "mlp": self.mlp}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {f"{prefix}.{name}": param for prefix, layer in self._named_layers().items()
                for name, param in layer.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{prefix}.{name}": grad for prefix, layer in self._named_layers().items()
                for name, grad in layer.grads.items()}

    @property
    def training(self) -> bool:
        return self._training

    @training.setter
    def training(self, mode: bool) -> None:
        self._training = mode
        for layer in self._named_layers().values():
            layer.training = mode

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The two residual branches, attention then MLP.

        Parameters
        ----------
        x : np.ndarray
            The residual stream, shape (N, T, D), dtype of the block.

        Returns
        -------
        np.ndarray
            Shape (N, T, D).
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        require_shape(x, ("N", "T", self.dim), "x", where)
        check_dtype(x, self.ln1.params["gamma"].dtype, "x", where)
        h = x + self.attn.forward(self.ln1.forward(x))
        y = h + self.mlp.forward(self.ln2.forward(h))
        self.cache = (x.shape, x.dtype)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Fill every inner layer's ``grads`` and return dx.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape (N, T, D).

        Returns
        -------
        np.ndarray
            dL/dx, shape (N, T, D).
        """
        shape, dtype = self._cached()
        dy = check_upstream(dy, shape, dtype, "dy", f"{self!r}.backward")
        dh = dy + self.ln2.backward(self.mlp.backward(dy))  # skip path + MLP branch
        self.dh = dh
        return dh + self.ln1.backward(self.attn.backward(dh))  # skip path + attention branch

    def __repr__(self) -> str:
        return (f"TransformerBlock({self.dim}, heads={self.attn.n_heads}, "
                f"mlp={self.mlp[0].out_features})")
