"""Hints: recognise the usual ways an analytic gradient goes wrong, and say which one it is.

Each recogniser tries a *repair* of the analytic gradient - undo a constant factor, transpose
it, sum out an extra axis - and reports the bug when the repaired gradient matches the
numerical one (relative error below ``PATTERN_TOLERANCE``). What cannot be repaired is
located instead: a single entry, or all wrong entries in one row or column. The order of the
checks matters: a shape problem hides everything else, and an all-zero gradient would
otherwise pass for "a constant factor of 0".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backprop_kit.gradcheck.relative_error import FLOOR_ABSOLUTE, error_floor, relative_errors

__all__ = ["PATTERN_TOLERANCE", "DiagnosisContext", "diagnose_shape", "diagnose_values"]

PATTERN_TOLERANCE = 1e-4


@dataclass(frozen=True)
class DiagnosisContext:
    """What a diagnosis may use besides the two gradients.

    Attributes
    ----------
    named_sizes : dict of int to list of str
        Every axis size of the inputs and the output, with the names of the axes that have
        it, e.g. ``{4: ["x.shape[0]", "y.shape[0]"], 3: ["x.shape[1]", "W.shape[0]"]}``;
        used to name a factor such as 1/N.
    output_shape : tuple of int or None
        Shape of the function's output y (None for a scalar function); used to recognise a
        sum over the wrong axis of dy.
    """

    named_sizes: dict[int, list[str]]
    output_shape: tuple[int, ...] | None = None


def _matches(candidate: np.ndarray, numerical: np.ndarray, judged: np.ndarray) -> bool:
    """True if ``candidate`` (shape of numerical) agrees with it on the judged entries."""
    reference = numerical[judged]
    if reference.size == 0:
        return False
    floor = error_floor(reference)
    return bool(np.max(relative_errors(candidate[judged], reference, floor)) <= PATTERN_TOLERANCE)


# ----------------------------------------------------------------------------------------
# Wrong shape


def diagnose_shape(
    analytic: np.ndarray, numerical: np.ndarray, judged: np.ndarray, context: DiagnosisContext
) -> str:
    """Describe an analytic gradient whose shape differs from the array's shape S.

    Parameters
    ----------
    analytic : np.ndarray
        The gradient backward returned, any shape other than S.
    numerical : np.ndarray
        The numerical gradient, shape S (nan where not checked).
    judged : np.ndarray
        Boolean mask, shape S: entries that were checked and are not kinks.
    context : DiagnosisContext
        Named axis sizes and the output shape.

    Returns
    -------
    str
        The hint, e.g. "transposed: ..." or "missing sum over axis 0: ...".
    """
    got, want = analytic.shape, numerical.shape
    says = f"analytic has shape {got}, expected {want}"
    if analytic.ndim >= 2 and got == want[::-1]:
        verdict = (
            "and its transpose matches the numerical gradient"
            if _matches(analytic.T, numerical, judged)
            else "(its transpose does not match either)"
        )
        return (
            f"transposed: {says}, {verdict}; check the order of a matrix product, "
            "e.g. x.T @ dy rather than dy.T @ x"
        )
    extra_axes = [k for k in range(len(got)) if got[:k] + got[k + 1 :] == want]
    if extra_axes:
        return _describe_extra_axis(analytic, numerical, judged, extra_axes, says)
    wrong_sum = _wrong_summed_axis(got, want, context.output_shape)
    if wrong_sum is not None:
        used, needed = wrong_sum
        return (
            f"summed over the wrong axis: {says}. That is the output's shape "
            f"{context.output_shape} without axis {used}, so dy was summed over axis {used}; "
            f"the gradient needs the sum over axis {needed}, e.g. dy.sum(axis={needed})"
        )
    if analytic.size == numerical.size:
        verdict = (
            "reshaped, it matches the numerical gradient"
            if _matches(analytic.reshape(want), numerical, judged)
            else "reshaping it does not make it match"
        )
        return f"{says}: the same number of entries, arranged differently; {verdict}"
    return f"{says}: a gradient always has the shape of the array it is the gradient of"


def _describe_extra_axis(
    analytic: np.ndarray,
    numerical: np.ndarray,
    judged: np.ndarray,
    extra_axes: list[int],
    says: str,
) -> str:
    """Hint for an analytic gradient with one axis too many (a missing sum, e.g. db = dy)."""
    if analytic.shape[extra_axes[0]] == 1:
        return (
            f"{says}: axis {extra_axes[0]} has size 1 and should not be there "
            "(a sum with keepdims=True? reshape it, or sum without keepdims)"
        )
    for axis in extra_axes:
        if _matches(analytic.sum(axis=axis), numerical, judged):
            return (
                f"missing sum over axis {axis}: {says}; summed over axis {axis} it matches the "
                f"numerical gradient (for a bias added to every row: db = dy.sum(axis={axis}))"
            )
    axis = extra_axes[0]
    return (
        f"{says}: axis {axis} (size {analytic.shape[axis]}) is one too many, but summing it "
        "out does not make the values match; a missing sum is only one of the problems"
    )


def _wrong_summed_axis(
    got: tuple[int, ...], want: tuple[int, ...], output_shape: tuple[int, ...] | None
) -> tuple[int, int] | None:
    """(used, needed) if ``got`` is the output shape without axis ``used`` and ``want`` is it
    without another axis ``needed``; else None."""
    if output_shape is None:
        return None
    without = [output_shape[:k] + output_shape[k + 1 :] for k in range(len(output_shape))]
    used = [k for k, shape in enumerate(without) if shape == got]
    needed = [k for k, shape in enumerate(without) if shape == want]
    pairs = [(u, n) for u in used for n in needed if u != n]
    return pairs[0] if pairs else None


# ----------------------------------------------------------------------------------------
# Right shape, wrong values


def diagnose_values(
    analytic: np.ndarray,
    numerical: np.ndarray,
    judged: np.ndarray,
    wrong: np.ndarray,
    context: DiagnosisContext,
) -> str:
    """Describe an analytic gradient of the right shape S whose values are wrong.

    Parameters
    ----------
    analytic, numerical : np.ndarray
        The two gradients, shape S (numerical is nan where not checked).
    judged : np.ndarray
        Boolean mask, shape S: entries that were checked and are not kinks (at least one).
    wrong : np.ndarray
        Boolean mask, shape S: judged entries whose relative error is above the tolerance.
    context : DiagnosisContext
        Named axis sizes and the output shape.

    Returns
    -------
    str
        The hint, e.g. "sign flip: ..." or "all 3 wrong entries are in row 2 ...".
    """
    for name, values in (("analytic", analytic), ("numerical", numerical)):
        not_finite = judged & ~np.isfinite(values)
        if not_finite.any():
            index = tuple(int(i) for i in np.argwhere(not_finite)[0])
            return (
                f"the {name} gradient is not finite (nan or inf) at index {index}: look for a "
                "division by zero, a log of 0 or an overflowing exp"
            )
    if np.all(analytic == 0):
        return (
            "the analytic gradient is all zeros: is it ever written? (e.g. backward fills "
            "grads in place, or returns the array it computed rather than a fresh zeros array)"
        )
    factor = _constant_factor(analytic[judged], numerical[judged])
    if factor is not None:
        return _describe_factor(factor, context)
    if analytic.ndim == 2 and analytic.shape[0] == analytic.shape[1] and _matches(
        analytic.T, numerical, judged
    ):
        return (
            "transposed: analytic matches the transpose of the numerical gradient (the array "
            "is square, so the shapes could not tell); check the order of a matrix product"
        )
    return _locate_wrong_entries(np.argwhere(wrong), int(judged.sum()), analytic.shape)


def _constant_factor(a: np.ndarray, n: np.ndarray) -> float | None:
    """The factor c with a ~ c * n, if one exists and c is not 1; else None.

    c is the least-squares fit sum(a n) / sum(n n), shapes (K,)."""
    norm = float(np.sum(n * n))
    if norm <= FLOOR_ABSOLUTE**2:
        return None
    factor = float(np.sum(a * n)) / norm
    if abs(factor - 1) < PATTERN_TOLERANCE or factor == 0:
        return None
    fitted = factor * n
    if np.max(relative_errors(a, fitted, error_floor(fitted))) > PATTERN_TOLERANCE:
        return None
    return factor


def _as_integer(value: float) -> int | None:
    """``value`` rounded, if it is within 0.1% of an integer; else None."""
    nearest = round(value)
    return nearest if nearest >= 1 and abs(value - nearest) <= 1e-3 * nearest else None


def _describe_factor(factor: float, context: DiagnosisContext) -> str:
    """Name the factor ``analytic / numerical``: a sign flip, 2, 1/2, N or 1/N, or a number."""
    magnitude = abs(factor)
    k = _as_integer(magnitude if magnitude >= 1 else 1 / magnitude)
    minus = "-" if factor < 0 else ""
    if k == 1:
        return (
            "sign flip: analytic = -numerical everywhere; check the sign of each term "
            "(e.g. d(a - b)/db = -1)"
        )
    if k is None:
        return (
            f"analytic = {factor:.4g} * numerical everywhere: a constant factor is off "
            "(neither 2 nor an axis size)"
        )
    ratio = f"{minus}{k} * numerical" if magnitude > 1 else f"{minus}numerical / {k}"
    reasons = ["the sign is flipped"] if factor < 0 else []
    if k == 2:
        reasons.append(
            "an extra factor 2 (a term counted twice?)"
            if magnitude > 1
            else "a missing factor 2 (e.g. d(x^2)/dx = 2x)"
        )
    if k in context.named_sizes:
        axes = " = ".join(context.named_sizes[k])
        reasons.append(
            f"the factor is {axes} ({k}): a sum where the forward takes a mean?"
            if magnitude > 1
            else f"the factor is {axes} ({k}): divided by it where the forward does not "
            "average, or averaged twice?"
        )
    if not reasons:
        reasons.append(f"a factor {k} is off")
    return f"analytic = {ratio} everywhere: " + "; ".join(reasons)


def _slice_name(axis: int, index: int, ndim: int) -> str:
    if ndim == 2:
        return f"row {index}" if axis == 0 else f"column {index}"
    return f"index {index} along axis {axis}"


def _locate_wrong_entries(positions: np.ndarray, n_judged: int, shape: tuple[int, ...]) -> str:
    """Hint for wrong entries without a global pattern: one entry, one row/column, or spread.

    ``positions`` has shape (W, ndim): the indices of the W wrong entries."""
    if len(positions) == 1:
        index = tuple(int(i) for i in positions[0])
        return (
            f"only entry {index} is wrong (all other {n_judged - 1} checked entries match): "
            "look for a special case, e.g. an edge or an index off by one"
        )
    for axis in range(len(shape)):
        along = np.unique(positions[:, axis])
        if len(along) == 1 and shape[axis] > 1:
            where = _slice_name(axis, int(along[0]), len(shape))
            return (
                f"all {len(positions)} wrong entries are in {where}; everything else matches: "
                f"what treats {where} differently (a loop bound, an index off by one, a "
                "special case such as the target class)?"
            )
    return (
        f"{len(positions)} of {n_judged} checked entries are wrong, with no simple pattern "
        "(not a constant factor, a sign flip, a transpose, or one row or column)"
    )
