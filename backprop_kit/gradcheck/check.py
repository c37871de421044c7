"""One call that checks a backward pass against finite differences, for every input at once.

The recipe, for a function ``y = forward(**inputs)`` and its ``backward(dy)``:

1. run forward once and backward once with an upstream gradient ``dy`` - random normal by
   default, never all ones, so that every output counts with its own weight and a mix-up
   between outputs cannot cancel out;
2. copy what backward returned (a layer may overwrite its gradient arrays on the next call);
3. for every input array, perturb its entries one at a time and measure the slope of the
   scalar ``sum(dy * forward(**inputs))``: that slope is exactly what backward should return;
4. compare entry by entry (``relative_error``), leave out kinks, and explain failures
   (``bug_hints``).

All arrays must be float64 (see ``validation``); the inputs are restored exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from backprop_kit.gradcheck.bug_hints import DiagnosisContext, diagnose_shape, diagnose_values
from backprop_kit.gradcheck.gradcheck_report import ArrayReport, GradCheckReport
from backprop_kit.gradcheck.numerical import DEFAULT_STEP, finite_differences
from backprop_kit.gradcheck.relative_error import (
    DEFAULT_TOLERANCE,
    error_floor,
    find_kinks,
    relative_errors,
)
from backprop_kit.gradcheck.validation import require_float64
from backprop_kit.layers._validate import check_is_layer

__all__ = ["check_gradients", "check_layer", "check_scalar_gradient"]


def check_gradients(
    forward: Callable[..., np.ndarray],
    backward: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    inputs: Mapping[str, np.ndarray],
    *,
    dy: np.ndarray | None = None,
    seed: int = 0,
    h: float = DEFAULT_STEP,
    tolerance: float | None = None,
    max_checks: int | None = None,
) -> GradCheckReport:
    """Check ``backward`` against finite differences of ``forward``, for every input.

    Parameters
    ----------
    forward : callable
        ``forward(**inputs) -> y``, a float64 array of any shape (or a float).
    backward : callable
        ``backward(dy) -> dict``: the gradient of ``sum(dy * y)`` for each key of ``inputs``,
        each with the shape of that input. Called once, right after ``forward(**inputs)``.
    inputs : mapping of str to np.ndarray
        The arrays forward takes, by keyword; float64, any shapes. They are perturbed in
        place one entry at a time and restored exactly.
    dy : np.ndarray, optional
        Upstream gradient, float64, shape of y. Default: standard normal, drawn with ``seed``.
    seed : int, default 0
        Seeds the default ``dy`` and the random subsets of ``max_checks``.
    h : float, default 1e-5
        Finite-difference step.
    tolerance : float, optional
        Largest relative error that passes; default 1e-6 (see ``relative_error``).
    max_checks : int, optional
        Check at most this many randomly chosen entries per array (all when None).

    Returns
    -------
    GradCheckReport
        One ArrayReport per input, in the order of ``inputs``.

    Raises
    ------
    TypeError
        If an input, dy or the output of forward is not float64, or backward does not
        return a dict.
    ValueError
        If dy does not have y's shape, or tolerance/max_checks/h are not positive.
    """
    arrays = {name: require_float64(array, name) for name, array in inputs.items()}
    if not arrays:
        raise ValueError("inputs is empty: pass the arrays forward takes, e.g. {'x': x}")
    tolerance = _tolerance_or_default(tolerance)
    _require_max_checks(max_checks)
    dy_rng, subset_rng = np.random.default_rng(seed).spawn(2)

    y = _float64_output(forward(**arrays))
    dy = dy_rng.standard_normal(y.shape) if dy is None else require_float64(dy, "dy")
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the shape of forward's output {y.shape}, got {dy.shape}")
    gradients = backward(dy)
    if not isinstance(gradients, Mapping):
        raise TypeError(
            "backward must return a dict mapping each input name to its gradient, got "
            f"{type(gradients).__name__}"
        )
    analytic = {name: _copied_gradient(gradients, name, "backward") for name in arrays}

    def weighted_output(_perturbed: np.ndarray) -> float:
        # The perturbed array is one of `arrays` itself, so forward sees the change.
        return float(np.sum(dy * forward(**arrays)))

    context = DiagnosisContext(_named_sizes({**arrays, "y": y}), output_shape=y.shape)
    reports = [
        _check_array(
            name,
            array,
            analytic[name],
            weighted_output,
            h=h,
            tolerance=tolerance,
            entries=_entries_to_check(array.shape, max_checks, subset_rng),
            context=context,
        )
        for name, array in arrays.items()
    ]
    return GradCheckReport(reports, tolerance)


def check_layer(
    layer: Any,
    x: np.ndarray,
    *,
    dy: np.ndarray | None = None,
    seed: int = 0,
    h: float = DEFAULT_STEP,
    tolerance: float | None = None,
    max_checks: int | None = None,
) -> GradCheckReport:
    """Check a layer's backward: the input gradient and every parameter's gradient.

    The layer must be deterministic (put Dropout in eval mode) and follow the layer protocol:
    ``forward(x) -> y``, ``backward(dy) -> dx``, ``params`` (a dict of float64 arrays, maybe
    empty) and ``grads`` (the same keys, filled by backward). Parameters are perturbed in
    place inside ``layer.params`` and restored exactly.

    Parameters
    ----------
    layer : object
        The layer to check.
    x : np.ndarray
        Float64 input batch, the shape the layer expects.
    dy, seed, h, tolerance, max_checks
        As in :func:`check_gradients`.

    Returns
    -------
    GradCheckReport
        Arrays ``"x"`` and then one per parameter, named by its key.
    """
    check_is_layer(layer, "layer", "check_layer",
                   hint=" (to check a pair of functions, use check_gradients)")
    if "x" in layer.params:
        raise ValueError("check_layer names the input 'x', so no parameter may be called 'x'")

    def forward(**arrays: np.ndarray) -> np.ndarray:
        return layer.forward(arrays["x"])  # the parameters are read from layer.params

    def backward(upstream: np.ndarray) -> dict[str, np.ndarray]:
        dx = layer.backward(upstream)
        return {"x": dx, **layer.grads}

    return check_gradients(
        forward,
        backward,
        {"x": x, **layer.params},
        dy=dy,
        seed=seed,
        h=h,
        tolerance=tolerance,
        max_checks=max_checks,
    )


def check_scalar_gradient(
    f: Callable[[np.ndarray], float],
    grad_f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray | float,
    *,
    h: float = DEFAULT_STEP,
    name: str = "x",
    tolerance: float | None = None,
) -> GradCheckReport:
    """Check the gradient of a scalar function: ``grad_f(x)`` against centered differences of f.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    grad_f : callable
        ``grad_f(x) -> df/dx``, shape of x.
    x : np.ndarray or float
        Float64 array of any shape (or a Python float); perturbed in place and restored.
    h : float, default 1e-5
        Finite-difference step.
    name : str, default "x"
        Name of x in the report and in error messages.
    tolerance : float, optional
        Largest relative error that passes; default 1e-6.

    Returns
    -------
    GradCheckReport
        A report with one array, ``name``.
    """
    x = require_float64(x, name)
    tolerance = _tolerance_or_default(tolerance)
    analytic = _copied_gradient({name: grad_f(x)}, name, "grad_f")
    report = _check_array(
        name,
        x,
        analytic,
        f,
        h=h,
        tolerance=tolerance,
        entries=list(np.ndindex(x.shape)),
        context=DiagnosisContext(_named_sizes({name: x})),
    )
    return GradCheckReport([report], tolerance)


# ----------------------------------------------------------------------------------------
# Steps shared by the three checks


def _tolerance_or_default(tolerance: float | None) -> float:
    if tolerance is None:
        return DEFAULT_TOLERANCE
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance <= 0:
        raise ValueError(f"tolerance must be a positive number (e.g. 1e-6), got {tolerance!r}")
    return float(tolerance)


def _float64_output(y: object) -> np.ndarray:
    """forward's output as an array; TypeError unless it is float64 (or a Python float)."""
    if isinstance(y, float):
        return np.array(y)
    if not isinstance(y, np.ndarray) or y.dtype != np.float64:
        got = y.dtype if isinstance(y, np.ndarray) else type(y).__name__
        raise TypeError(
            f"forward must return a float64 array, got {got}; with float64 inputs this means "
            "it converts to another dtype somewhere"
        )
    return y


def _copied_gradient(gradients: Mapping[str, Any], name: str, source: str) -> np.ndarray | str:
    """A float64 copy of ``gradients[name]``, or a sentence saying why there is none.

    The copy matters: a layer may write its next backward into the same array. ``source``
    names the function that produced the gradients, for the sentence."""
    if name not in gradients:
        keys = ", ".join(repr(key) for key in gradients) or "nothing"
        return f"missing gradient: {source} returned no {name!r} (it returned {keys})"
    value = gradients[name]
    if value is None:
        return f"missing gradient: {source} returned None as the gradient of {name!r}"
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return f"the gradient of {name!r} is a {type(value).__name__}, not an array of numbers"


def _named_sizes(arrays: Mapping[str, np.ndarray]) -> dict[int, list[str]]:
    """Every axis size of the arrays, with the names of the axes that have it."""
    named: dict[int, list[str]] = {}
    for name, array in arrays.items():
        for axis, size in enumerate(array.shape):
            named.setdefault(size, []).append(f"{name}.shape[{axis}]")
    return named


def _require_max_checks(max_checks: int | None) -> None:
    if max_checks is not None and (
        isinstance(max_checks, bool)
        or not isinstance(max_checks, int | np.integer)
        or max_checks < 1
    ):
        raise ValueError(f"max_checks must be a positive integer or None, got {max_checks!r}")


def _entries_to_check(
    shape: tuple[int, ...], max_checks: int | None, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """All indices of an array of this shape, or ``max_checks`` of them drawn at random."""
    size = int(np.prod(shape))
    if max_checks is None or size <= max_checks:
        return list(np.ndindex(shape))
    chosen = np.sort(rng.choice(size, size=int(max_checks), replace=False))
    return [tuple(int(i) for i in np.unravel_index(flat, shape)) for flat in chosen]


def _check_array(
    name: str,
    array: np.ndarray,
    analytic: np.ndarray | str,
    scalar_f: Callable[[np.ndarray], float],
    *,
    h: float,
    tolerance: float,
    entries: list[tuple[int, ...]],
    context: DiagnosisContext,
) -> ArrayReport:
    """Measure the numerical gradient of one array at ``entries`` and compare.

    ``analytic`` is the copied gradient, or the sentence saying why there is none."""
    slopes = finite_differences(scalar_f, array, entries, h=h)
    floor = error_floor(slopes.centered)
    is_kink = find_kinks(slopes.forward, slopes.backward, floor)

    numerical = np.full(array.shape, np.nan)
    judged = np.zeros(array.shape, dtype=bool)
    for index, value, kink in zip(entries, slopes.centered, is_kink, strict=True):
        numerical[index] = value
        judged[index] = not kink
    kinks = tuple(index for index, kink in zip(entries, is_kink, strict=True) if kink)

    def report(
        analytic: np.ndarray,
        passed: bool,
        max_error: float,
        worst: tuple[int, ...] | None,
        hint: str | None,
    ) -> ArrayReport:
        compared = worst is not None
        return ArrayReport(
            name=name,
            shape=array.shape,
            max_rel_error=max_error,
            passed=passed,
            worst_index=worst if compared else (),
            analytic_at_worst=float(analytic[worst]) if compared else np.nan,
            numerical_at_worst=float(numerical[worst]) if compared else np.nan,
            n_checked=len(entries),
            n_total=array.size,
            kink_indices=kinks,
            hint=hint,
            analytic=analytic,
            numerical=numerical,
            tolerance=tolerance,
        )

    if isinstance(analytic, str):
        return report(np.full(array.shape, np.nan), False, np.inf, None, analytic)
    if analytic.shape != array.shape:
        hint = diagnose_shape(analytic, numerical, judged, context)
        return report(analytic, False, np.inf, None, hint)
    if not judged.any():
        hint = (
            "every checked entry is at a kink, so nothing could be verified: move the inputs "
            "away from the non-differentiable points (e.g. keep |x| > 1e-3 around ReLU)"
        )
        return report(analytic, False, np.nan, None, hint)
    errors = np.full(array.shape, np.nan)
    errors[judged] = relative_errors(analytic[judged], numerical[judged], floor)
    worst = tuple(int(i) for i in np.unravel_index(np.nanargmax(errors), array.shape))
    if errors[worst] <= tolerance:
        return report(analytic, True, float(errors[worst]), worst, None)
    hint = diagnose_values(analytic, numerical, judged, judged & (errors > tolerance), context)
    return report(analytic, False, float(errors[worst]), worst, hint)
