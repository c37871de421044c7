"""The result of a gradient check: one ArrayReport per checked array, gathered in a GradCheckReport.

``str(report)`` gives a text table with the hints below it; in a notebook the report shows
itself as an HTML table (``_repr_html_``). ``report.raise_if_failed()`` turns a failed check
into an AssertionError whose message is that text, which is what a test wants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backprop_kit.gradcheck import render

__all__ = ["ArrayReport", "GradCheckReport", "GradientCheckError"]


class GradientCheckError(AssertionError):
    """Raised by :meth:`GradCheckReport.raise_if_failed`; the message is the report's text."""


@dataclass(frozen=True, eq=False)
class ArrayReport:
    """How the analytic gradient of one array compares with the numerical one.

    Attributes
    ----------
    name : str
        The array's name (``"x"``, or a parameter's key such as ``"W"``).
    shape : tuple of int
        Shape S of the array, which its gradient must have too.
    max_rel_error : float
        Largest relative error over the judged entries (checked, not kinks); inf when the
        analytic gradient is missing or has the wrong shape. See ``compare`` for the formula.
    passed : bool
        True if ``max_rel_error <= tolerance`` (and something could be judged).
    worst_index : tuple of int
        Index of the entry with the largest error; ``()`` when nothing could be compared.
    analytic_at_worst, numerical_at_worst : float
        The two gradients at ``worst_index`` (nan when nothing could be compared).
    n_checked : int
        Number of entries that were perturbed (all of them unless ``max_checks`` was given).
    n_total : int
        Number of entries of the array.
    kink_indices : tuple of tuple of int
        Checked entries whose step crossed a kink; left out of the verdict.
    hint : str or None
        What the error looks like (a factor, a transpose, a missing sum...) when it failed.
    analytic : np.ndarray
        The analytic gradient as returned by backward (any shape; nan, shape S, if missing).
    numerical : np.ndarray
        The numerical gradient, shape S; nan at entries that were not checked.
    tolerance : float
        The pass threshold that was applied.
    """

    name: str
    shape: tuple[int, ...]
    max_rel_error: float
    passed: bool
    worst_index: tuple[int, ...]
    analytic_at_worst: float
    numerical_at_worst: float
    n_checked: int
    n_total: int
    kink_indices: tuple[tuple[int, ...], ...]
    hint: str | None
    analytic: np.ndarray = field(repr=False)
    numerical: np.ndarray = field(repr=False)
    tolerance: float

    @property
    def n_kinks(self) -> int:
        """Number of checked entries whose step crossed a kink."""
        return len(self.kink_indices)


@dataclass(frozen=True, eq=False, repr=False)
class GradCheckReport:
    """The result of one gradient check.

    Attributes
    ----------
    arrays : list of ArrayReport
        One report per checked array, in the order of the inputs.
    tolerance : float
        The pass threshold that was applied to every array.
    """

    arrays: list[ArrayReport]
    tolerance: float

    @property
    def passed(self) -> bool:
        """True if every array passed."""
        return all(array.passed for array in self.arrays)

    def __getitem__(self, name: str) -> ArrayReport:
        for array in self.arrays:
            if array.name == name:
                return array
        names = ", ".join(repr(array.name) for array in self.arrays)
        raise KeyError(f"no array named {name!r} in this report; it has {names}")

    def raise_if_failed(self) -> None:
        """Raise GradientCheckError with the report's text if any array failed."""
        if not self.passed:
            raise GradientCheckError(str(self))

    def __str__(self) -> str:
        return render.as_text(self)

    __repr__ = __str__  # text front ends (terminal, nbconvert to text) show the table too

    def _repr_html_(self) -> str:
        return render.as_html(self)
