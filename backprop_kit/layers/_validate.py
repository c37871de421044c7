"""Input checks shared by the layers and losses.

Every check raises early with a message that names the caller (``where``), the argument, what
was expected and what came, so a student sees ``Linear(64 -> 32).forward: x must have shape
(N, 64), got (10, 63)`` instead of a numpy traceback from deep inside a matrix product.
"""

from __future__ import annotations

import numpy as np

from backprop_kit.layers.base import LAYER_PROTOCOL

__all__ = [
    "check_dtype",
    "check_float_array",
    "check_indices",
    "check_is_layer",
    "check_labels",
    "check_like",
    "check_positive_int",
    "check_upstream",
    "require_shape",
]


def check_float_array(x: object, name: str, where: str) -> np.ndarray:
    """Return ``x`` unchanged if it is a floating-point numpy array, else raise TypeError.

    Parameters
    ----------
    x : object
        The value to check; it must be an ``np.ndarray`` of dtype float16, float32 or float64.
    name : str
        The argument's name, used in the message (e.g. ``"x"``).
    where : str
        The caller, used as the message's prefix (e.g. ``"ReLU.forward"``).

    Returns
    -------
    np.ndarray
        ``x`` itself (no copy).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{where}: {name} must be a floating-point array (float32 or float64), "
            f"got dtype {x.dtype}; convert it with {name}.astype(np.float64)"
        )
    return x


def _format_shape(spec: tuple[int | str, ...]) -> str:
    """Write a shape spec such as ``("N", 64)`` as ``(N, 64)``."""
    inner = ", ".join(str(d) for d in spec)
    return f"({inner},)" if len(spec) == 1 else f"({inner})"


def require_shape(x: np.ndarray, spec: tuple[int | str, ...], name: str, where: str) -> None:
    """Raise ValueError unless ``x.shape`` matches ``spec``.

    (Not to be confused with ``backprop_grading.check_shape``, the notebooks' test helper.)

    Parameters
    ----------
    x : np.ndarray
        Array whose shape is checked.
    spec : tuple of int or str
        One entry per axis: an int is a required size, a str (``"N"``) is a free size that is
        only named in the message.
    name, where : str
        Argument name and caller, as in :func:`check_float_array`.
    """
    fits = x.ndim == len(spec) and all(
        isinstance(want, str) or got == want for got, want in zip(x.shape, spec, strict=True)
    )
    if not fits:
        raise ValueError(
            f"{where}: {name} must have shape {_format_shape(spec)}, got {tuple(x.shape)}"
        )


def check_like(dy: object, reference: np.ndarray, name: str, where: str) -> np.ndarray:
    """Check an upstream gradient against the array it is the gradient of; take its dtype.

    Parameters
    ----------
    dy : object
        Upstream gradient; must be a floating-point array with ``reference``'s shape.
    reference : np.ndarray
        The forward output (or the cached array with the same shape and dtype).
    name, where : str
        Argument name and caller, as in :func:`check_float_array`.

    Returns
    -------
    np.ndarray
        ``dy`` in ``reference``'s dtype (``dy`` itself, no copy, when it has it already),
        shape ``reference.shape``; see :func:`check_upstream`.
    """
    check_float_array(dy, name, where)
    if dy.shape != reference.shape:
        raise ValueError(
            f"{where}: {name} must have the shape of the forward output "
            f"{tuple(reference.shape)}, got {tuple(dy.shape)}"
        )
    return dy.astype(reference.dtype, copy=False)


def check_upstream(
    dy: object, spec: tuple[int | str, ...], dtype: np.dtype, name: str, where: str
) -> np.ndarray:
    """Check an upstream gradient's shape and return it in the dtype the layer computes in.

    The mixed-precision rule of the layer contract (a gradient has the dtype of the array it
    is the gradient of) is kept by taking dy in the dtype of the layer's output, which is that
    of its input and parameters: the backward then runs in one dtype and dx comes out in x's.

    Parameters
    ----------
    dy : object
        Upstream gradient; must be a floating-point array of shape ``spec``.
    spec : tuple of int or str
        Its required shape, as in :func:`require_shape`.
    dtype : np.dtype
        The dtype of the forward's output.
    name, where : str
        Argument name and caller, as in :func:`check_float_array`.

    Returns
    -------
    np.ndarray
        ``dy`` in ``dtype`` (``dy`` itself, no copy, when it has it already).
    """
    check_float_array(dy, name, where)
    require_shape(dy, spec, name, where)
    return dy.astype(dtype, copy=False)


def check_dtype(x: np.ndarray, dtype: np.dtype, name: str, where: str) -> None:
    """Raise TypeError unless ``x`` has the dtype of the layer's parameters.

    Parameters
    ----------
    x : np.ndarray
        A floating-point array (already checked by :func:`check_float_array`).
    dtype : np.dtype
        The dtype of the layer's parameters.
    name, where : str
        Argument name and caller, as in :func:`check_float_array`.
    """
    if x.dtype != dtype:
        raise TypeError(
            f"{where}: {name} is {x.dtype} but the layer's parameters are {dtype}; pass "
            f"{name}.astype(np.{dtype}) or build the layer with dtype=np.{x.dtype}"
        )


def check_is_layer(layer: object, name: str, where: str, hint: str = "") -> None:
    """Raise TypeError unless ``layer`` has what the layer protocol needs.

    Parameters
    ----------
    layer : object
        Candidate layer; it needs ``forward``, ``backward``, ``params`` and ``grads``.
    name, where : str
        Argument name and caller, as in :func:`check_float_array`.
    hint : str, optional
        Appended to the message, e.g. where the object belongs instead.
    """
    missing = [attribute for attribute in LAYER_PROTOCOL if not hasattr(layer, attribute)]
    if missing:
        raise TypeError(
            f"{where}: {name} ({type(layer).__name__}) is not a layer: it lacks "
            f"{', '.join(missing)}{hint}"
        )


def check_positive_int(value: object, name: str, where: str) -> int:
    """Return ``value`` as an int if it is a positive integer (not a bool), else ValueError.

    Parameters
    ----------
    value : object
        A size such as ``hidden_size``.
    name, where : str
        Argument name and caller, as in :func:`check_float_array`.

    Returns
    -------
    int
        ``value`` as a Python int.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_labels(
    labels: object, n_samples: int | None, n_classes: int, where: str, *, name: str = "labels"
) -> np.ndarray:
    """Check class labels: an integer array of shape (N,) with values in ``[0, n_classes)``.

    Parameters
    ----------
    labels : object
        Candidate labels, shape (N,), integer dtype.
    n_samples : int or None
        N, the number of rows of the scores the labels belong to; None accepts any N.
    n_classes : int
        C, the number of classes (columns of the scores).
    where : str
        The caller, used as the message's prefix.
    name : str, default "labels"
        The argument's name, used in the message (a loss's is ``"target"``).

    Returns
    -------
    np.ndarray
        ``labels`` itself (no copy), shape (N,).
    """
    if isinstance(labels, np.ndarray) and not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"{where}: {name} must be an integer array of class indices, got dtype "
            f"{labels.dtype}; one-hot targets go to MSELoss, class indices here"
        )
    spec = ("N" if n_samples is None else n_samples,)
    return check_indices(labels, spec, n_classes, name, where, noun="classes")


def check_indices(
    values: object,
    spec: tuple[int | str, ...],
    n_values: int,
    name: str,
    where: str,
    *,
    noun: str,
) -> np.ndarray:
    """Check an integer index array: the right shape and every value in ``[0, n_values)``.

    Parameters
    ----------
    values : object
        Candidate indices (class labels, token ids): an integer ``np.ndarray``.
    spec : tuple of int or str
        The required shape, as in :func:`require_shape` (e.g. ``("N", "T")``).
    n_values : int
        How many distinct values are allowed.
    name, where : str
        Argument name and caller, as in :func:`check_float_array`.
    noun : str
        What the values count, for the message: "... for 3 classes", "... for 80 tokens".

    Returns
    -------
    np.ndarray
        ``values`` itself (no copy), shape matching ``spec``.
    """
    if not isinstance(values, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy array, got {type(values).__name__}")
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(
            f"{where}: {name} must be an integer array of indices, got dtype {values.dtype}; "
            f"convert it with {name}.astype(np.int64)"
        )
    require_shape(values, spec, name, where)
    if values.size and (values.min() < 0 or values.max() >= n_values):
        bad = values[(values < 0) | (values >= n_values)][0]
        raise ValueError(
            f"{where}: {name} must lie in [0, {n_values}) for {n_values} {noun}, found {bad}"
        )
    return values
