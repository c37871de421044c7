"""The result of a gradient check, and how it shows itself as text and as HTML.

One :class:`ArrayReport` per checked array, gathered in a :class:`GradCheckReport`.
``str(report)`` gives a text table - name | shape | max rel error | status | worst index |
analytic | numerical - followed by the hints of the failed arrays and notes on kinks and
subsets; in a notebook the report shows the same as an HTML table (``_repr_html_``, inline
styles only, so it looks the same in any front end). ``report.raise_if_failed()`` turns a
failed check into a :class:`GradientCheckError` whose message is that text, which is what a
test wants.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np

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
        analytic gradient is missing or has the wrong shape. See ``relative_error`` for the formula.
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
        return _as_text(self)

    __repr__ = __str__  # text front ends (terminal, nbconvert to text) show the table too

    def _repr_html_(self) -> str:
        return _as_html(self)


# ----------------------------------------------------------------------------------------
# Text and HTML

COLUMNS = ("name", "shape", "max rel error", "status", "worst index", "analytic", "numerical")
PASS_COLOUR = "#009E73"  # Okabe-Ito bluish green
FAIL_COLOUR = "#D55E00"  # Okabe-Ito vermilion
SHOWN_KINKS = 5
STATUS_COLUMN = COLUMNS.index("status")


def _row(array: ArrayReport) -> tuple[str, ...]:
    """The table cells of one array, as strings."""
    compared = not math.isnan(array.analytic_at_worst)
    return (
        array.name,
        str(array.shape),
        f"{array.max_rel_error:.1e}",
        "ok" if array.passed else "FAIL",
        str(array.worst_index) if compared else "-",
        f"{array.analytic_at_worst:.6g}" if compared else "-",
        f"{array.numerical_at_worst:.6g}" if compared else "-",
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _headline(report: GradCheckReport) -> str:
    failed = [array.name for array in report.arrays if not array.passed]
    rule = f"pass: max rel error <= {report.tolerance:.0e}"
    if not failed:
        names = ", ".join(array.name for array in report.arrays)
        return f"Gradient check passed for {names} ({rule})"
    return f"Gradient check FAILED for {', '.join(failed)} ({rule})"


def _notes(report: GradCheckReport) -> list[str]:
    """Kinks and random subsets, one line per array that has them."""
    notes = []
    for array in report.arrays:
        if array.n_kinks:
            shown = ", ".join(str(index) for index in array.kink_indices[:SHOWN_KINKS])
            more = ", ..." if array.n_kinks > SHOWN_KINKS else ""
            notes.append(
                f"{array.name}: {_count(array.n_kinks, 'kink')} left out of the verdict (the "
                f"step h crossed a non-differentiable point such as ReLU at 0): {shown}{more}"
            )
        if array.n_checked < array.n_total:
            notes.append(
                f"{array.name}: checked {array.n_checked} of {array.n_total} entries "
                "(random subset)"
            )
    return notes


def _guide(report: GradCheckReport) -> str:
    return (
        f"guide: ~1e-10 perfect, <= {report.tolerance:.0e} passes, up to 1e-04 suspicious, "
        "above 1e-04 almost certainly a bug"
    )


def _as_text(report: GradCheckReport) -> str:
    """``str(report)``: the headline, a plain-text table, then hints, notes and the guide."""
    rows = [COLUMNS, *(_row(array) for array in report.arrays)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    lines = [_headline(report), "", line(COLUMNS), "-+-".join("-" * w for w in widths)]
    lines += [line(row) for row in rows[1:]]
    hints = [f"  {array.name}: {array.hint}" for array in report.arrays if array.hint]
    if hints:
        lines += ["", "hints:", *hints]
    notes = _notes(report)
    if notes:
        lines += ["", "notes:", *(f"  {note}" for note in notes)]
    lines += ["", _guide(report)]
    return "\n".join(line.rstrip() for line in lines)


def _as_html(report: GradCheckReport) -> str:
    """``report._repr_html_()``: an HTML fragment with the same content as :func:`_as_text`,
    the table's status cells green or red, hints and notes as lists."""
    cell = "padding:2px 8px;border:1px solid #ccc;text-align:left;font-family:monospace"
    header = "".join(f'<th style="{cell}">{html.escape(name)}</th>' for name in COLUMNS)
    body = []
    for array in report.arrays:
        cells = [html.escape(text) for text in _row(array)]
        colour = PASS_COLOUR if array.passed else FAIL_COLOUR
        status = f'<td style="{cell};background:{colour};color:white;font-weight:bold">'
        tds = [
            f"{status}{text}</td>" if column == STATUS_COLUMN else f'<td style="{cell}">{text}</td>'
            for column, text in enumerate(cells)
        ]
        body.append("<tr>" + "".join(tds) + "</tr>")
    parts = [
        f"<p><b>{html.escape(_headline(report))}</b></p>",
        f'<table style="border-collapse:collapse"><tr>{header}</tr>{"".join(body)}</table>',
    ]
    hints = [(array.name, array.hint) for array in report.arrays if array.hint]
    for title, items in (
        ("hints", [f"<b>{html.escape(name)}</b>: {html.escape(hint)}" for name, hint in hints]),
        ("notes", [html.escape(note) for note in _notes(report)]),
    ):
        if items:
            listed = "".join(f"<li>{item}</li>" for item in items)
            parts.append(f"<p>{title}:</p><ul>{listed}</ul>")
    parts.append(f"<p><small>{html.escape(_guide(report))}</small></p>")
    return "\n".join(parts)
