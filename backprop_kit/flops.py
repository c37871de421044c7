"""Counting what a gradient costs in arithmetic and in function calls, instead of timing it.

Times depend on the machine, the BLAS library and whatever else is running; counts do not. Two
counts answer the questions of the "cost of backprop":

- multiply-adds (MACs) of the matrix products, which dominate a dense network's work:
  :func:`linear_macs` and :func:`stack_macs` give them by formula, :class:`MacCounter` counts
  the ones the code really performs, so each checks the other;
- calls of a function: :class:`CallCounter`, e.g. the forward passes finite differences make.

One multiply-add is one multiplication and one addition (2 floating-point operations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from backprop_kit.layers.base import walk_layers

__all__ = ["CallCounter", "MacCounter", "linear_macs", "stack_macs"]

# numpy functions that multiply matrices without going through np.matmul: MacCounter refuses
# them rather than silently leaving their work out of the count.
_UNCOUNTED_PRODUCTS = (np.dot, np.vdot, np.inner, np.outer, np.tensordot, np.einsum, np.kron)


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def linear_macs(
    n: int, in_features: int, out_features: int, *, input_grad: bool = True
) -> tuple[int, int]:
    """Multiply-adds of one ``Linear`` layer's forward and backward on a batch of n rows.

    forward:  y = x @ W                   n * in_features * out_features
    backward: dW = x.T @ dy               in_features * n * out_features
              dx = dy @ W.T (input_grad)  n * out_features * in_features

    The bias (``+ b`` forward, a sum over the batch backward) costs n * out_features additions,
    one row per example instead of a whole matrix product, and is not counted.

    Parameters
    ----------
    n, in_features, out_features : int
        Batch size N, and the sizes D_in, D_out of an input and an output row.
    input_grad : bool, default True
        Whether the backward also computes dx (``Linear(input_grad=False)`` skips it).

    Returns
    -------
    tuple of int
        ``(forward, backward)``: N D_in D_out, and 2 N D_in D_out (N D_in D_out without dx).
    """
    product = (
        _check_count(n, "n")
        * _check_count(in_features, "in_features")
        * _check_count(out_features, "out_features")
    )
    return product, (2 if input_grad else 1) * product


def stack_macs(layers: Iterable[Any], n: int) -> tuple[int, int]:
    """Multiply-adds of a forward and a backward through a stack of layers, by formula.

    Every layer with ``in_features`` and ``out_features`` (a ``Linear``) adds
    :func:`linear_macs`; elementwise layers (ReLU, Tanh, Dropout, ...) do no matrix product and
    add nothing; layers inside others (a ``Sequential``, a ``Residual``'s block) are counted
    once each (:func:`~backprop_kit.layers.base.walk_layers`).

    Parameters
    ----------
    layers : iterable of layers, or a Sequential
        The stack, in forward order.
    n : int
        Batch size N.

    Returns
    -------
    tuple of int
        ``(forward, backward)`` multiply-adds of the whole stack.
    """
    forward = backward = 0
    for layer in walk_layers(getattr(layers, "layers", layers)):
        if hasattr(layer, "in_features") and hasattr(layer, "out_features"):
            layer_forward, layer_backward = linear_macs(
                n, layer.in_features, layer.out_features,
                input_grad=getattr(layer, "input_grad", True),
            )
            forward += layer_forward
            backward += layer_backward
    return forward, backward


def _matmul_macs(a: np.ndarray, b: np.ndarray) -> int:
    """Multiply-adds of ``np.matmul(a, b)``: batch * rows * inner size * columns."""
    a = a.reshape(1, -1) if a.ndim == 1 else a
    b = b.reshape(-1, 1) if b.ndim == 1 else b
    batch = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])))
    return batch * a.shape[-2] * a.shape[-1] * b.shape[-1]


class _Tracked(np.ndarray):
    """An ndarray view that adds the multiply-adds of its matrix products to a MacCounter.

    Every ufunc result computed from a tracked array is tracked too, so the count follows the
    data through a network's forward pass and, from a tracked dy, through its backward pass.
    """

    counter: MacCounter | None

    def __array_finalize__(self, obj: object) -> None:
        self.counter = getattr(obj, "counter", None)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        counter = next(a.counter for a in inputs + kwargs.get("out", ()) if isinstance(a, _Tracked))
        plain = tuple(a.view(np.ndarray) if isinstance(a, _Tracked) else a for a in inputs)
        if ufunc is np.matmul and method == "__call__":
            counter.macs += _matmul_macs(np.asarray(plain[0]), np.asarray(plain[1]))
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _Tracked) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        if isinstance(result, tuple):
            return tuple(counter.track(r) if type(r) is np.ndarray else r for r in result)
        return counter.track(result) if type(result) is np.ndarray else result

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _UNCOUNTED_PRODUCTS:
            raise TypeError(
                f"MacCounter counts np.matmul and the @ operator only; np.{func.__name__} "
                f"would go uncounted: write the product with @"
            )
        return super().__array_function__(func, types, args, kwargs)


class MacCounter:
    """Count the multiply-adds of every matrix product computed from the arrays it tracks.

    ::

        counter = MacCounter()
        y = model.forward(counter.track(x))
        forward_macs = counter.macs
        model.backward(counter.track(dy))
        backward_macs = counter.macs - forward_macs

    ``track(a)`` returns a view of ``a`` (same data, no copy) whose ``@`` / ``np.matmul`` with
    any array adds ``rows * inner size * columns`` to ``macs``; arrays computed from it are
    tracked as well. Products written with ``np.dot``, ``np.einsum`` and similar raise
    TypeError instead of going uncounted. The values computed are exactly those of plain
    arrays; layer caches filled while counting hold tracked views until the next forward.

    Attributes
    ----------
    macs : int
        Multiply-adds counted so far.
    """

    def __init__(self) -> None:
        self.macs = 0

    def track(self, array: np.ndarray) -> np.ndarray:
        """Return a view of ``array`` (any shape) whose matrix products are counted here."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"MacCounter.track needs a numpy array, got {type(array).__name__}")
        view = array.view(_Tracked)
        view.counter = self
        return view

    def __repr__(self) -> str:
        return f"MacCounter(macs={self.macs})"


class CallCounter:
    """Wrap a function and count how often it is called.

    Parameters
    ----------
    function : callable
        The function to count, e.g. a loss of the parameters that runs one forward pass.

    Attributes
    ----------
    calls : int
        Number of calls so far; each call passes its arguments on and returns the result.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise TypeError(f"CallCounter needs a function, got {type(function).__name__}")
        self.function = function
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        name = getattr(self.function, "__name__", repr(self.function))
        return f"CallCounter({name}, calls={self.calls})"
