"""The skip connection of residual networks (He et al. 2016): y = x + block(x)."""

from __future__ import annotations

import numpy as np

from backprop_kit.layers._validate import check_float_array, check_is_layer, check_upstream
from backprop_kit.layers.base import Layer

__all__ = ["Residual"]


class Residual(Layer):
    """Add a block's input to its output: ``y = x + block(x)``.

    forward:  x (any shape the block takes) -> y = x + block.forward(x), same shape
    backward: dy (shape of y) -> dx = dy + block.backward(dy), same shape

    x reaches y along two paths, the identity and the block, so its gradient is the sum of
    both. The identity path hands dy down unchanged: in a stack of residual blocks
    ``h_{l+1} = h_l + F_l(h_l)`` the gradient at any layer is the gradient at the top plus the
    terms through the blocks (He et al. 2016, "Identity mappings in deep residual networks",
    Eq. 5), so it cannot vanish just because the blocks' Jacobians are small.

    Parameters
    ----------
    block : layer
        Anything that follows the layer protocol and keeps the shape of its input, e.g.
        ``Sequential(Linear(64, 64, rng=rng), Tanh())``. Its backward must return dx (not None:
        keep ``input_grad=True`` on its first Linear).

    Attributes
    ----------
    block : layer
        The wrapped block.
    params, grads : dict[str, np.ndarray]
        The block's own parameters (gradients), under the block's own names: the skip adds
        none. The values are the block's arrays, not copies, so optimizers built from
        :meth:`parameters` and the gradient checker update and read the block itself.
    training : bool
        Setting it sets it on the block (``train()`` / ``eval()`` do this).
    cache : tuple
        Shape and dtype of the last forward's input, to check dy against (and dx's dtype).
    """

    def __init__(self, block: Layer) -> None:
        check_is_layer(block, "block", "Residual")
        self.block = block
        self.cache = None
        # Layer.__init__ is not called: params, grads and training are the block's (properties).

    @property
    def params(self) -> dict[str, np.ndarray]:
        return dict(self.block.params)

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return dict(self.block.grads)

    @property
    def training(self) -> bool:
        return self.block.training

    @training.setter
    def training(self, mode: bool) -> None:
        self.block.training = mode

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return ``x + block.forward(x)``.

        Parameters
        ----------
        x : np.ndarray
            Input of the block, e.g. (N, D).

        Returns
        -------
        np.ndarray
            Shape of x.
        """
        where = f"{self!r}.forward"
        check_float_array(x, "x", where)
        branch = self.block.forward(x)
        if not isinstance(branch, np.ndarray) or branch.shape != x.shape:
            got = branch.shape if isinstance(branch, np.ndarray) else type(branch).__name__
            raise ValueError(
                f"{where}: the block must keep the shape of its input {x.shape} so that the "
                f"skip connection can add them, got {got}"
            )
        self.cache = (x.shape, x.dtype)
        return x + branch

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Fill the block's ``grads`` and return ``dy + block.backward(dy)``.

        Parameters
        ----------
        dy : np.ndarray
            dL/dy, shape of the forward's input.

        Returns
        -------
        np.ndarray
            dL/dx, shape of dy.
        """
        shape, dtype = self._cached()
        where = f"{self!r}.backward"
        dy = check_upstream(dy, shape, dtype, "dy", where)
        d_branch = self.block.backward(dy)
        if d_branch is None:
            raise ValueError(
                f"{where}: the block's backward returned None instead of its input gradient; "
                "build its first Linear with input_grad=True (the default)"
            )
        return dy + d_branch

    def __repr__(self) -> str:
        inner = repr(self.block).replace("\n", "\n  ")
        return f"Residual({inner})"
