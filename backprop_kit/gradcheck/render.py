"""Turn a GradCheckReport into text (``str(report)``) or HTML (``report._repr_html_()``).

Both show the same table - name | shape | max rel error | status | worst index | analytic |
numerical - followed by the hints of the failed arrays and notes on kinks and subsets. The
HTML uses inline styles only, so it looks the same in any notebook front end.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backprop_kit.gradcheck.report import ArrayReport, GradCheckReport

__all__ = ["as_html", "as_text"]

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


def as_text(report: GradCheckReport) -> str:
    """Render the report as a plain-text table followed by hints and notes.

    Parameters
    ----------
    report : GradCheckReport
        The report to render.

    Returns
    -------
    str
        Several lines of text.
    """
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


def as_html(report: GradCheckReport) -> str:
    """Render the report as an HTML table with green/red status cells (inline styles only).

    Parameters
    ----------
    report : GradCheckReport
        The report to render.

    Returns
    -------
    str
        An HTML fragment: a headline, the table, then hints and notes as lists.
    """
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
