"""The class at a glance, beside the CSV: a PNG of score histograms and an HTML page.

An instructor looks at a picture before a table. For one assignment's
:class:`~backprop_course.report.ClassReport` this draws one histogram of the total and one per
graded cell (matplotlib, Agg), and writes a small self-contained HTML page: the picture, a
summary per cell (mean, full marks, zeros) and each cell's most frequent failure messages (the
autograded notebooks' error lines and the rubric's ``[FAILED]`` lines, see
:func:`backprop_course.worker.cell_failures`).

Failure messages, student ids and run details come from students: everything on the page goes
through :func:`html.escape`, so a message such as ``<script>`` is shown as text, never run.
"""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from backprop_course.report import STATUSES, ClassReport  # noqa: E402

#: Okabe & Ito's colour-blind-safe blue.
BAR_COLOUR = "#0072B2"
#: Failure messages listed per cell.
TOP_MESSAGES = 5
#: Statuses whose scores are in the gradebook (0 for a run that did not finish).
RECORDED = ("graded", "crashed", "timeout", "failed")


def write_pictures(report: ClassReport, csv_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<csv stem>.png`` and ``<csv stem>.html`` beside ``csv_path`` (replaced).

    Returns
    -------
    (png path, html path)
    """
    csv_path = Path(csv_path)
    png = csv_path.with_suffix(".png")
    page = csv_path.with_suffix(".html")
    draw_histograms(report, png)
    page.write_text(html_page(report, png.name), encoding="utf-8")
    return png, page


def _scores(report: ClassReport) -> dict[str, np.ndarray]:
    """"total" and each grade_id -> points of every recorded student, shape (n_students,)."""
    rows = [row for row in report.rows if row.status in RECORDED]
    columns = {"total": np.array([row.total for row in rows], dtype=float)}
    for grade_id in report.max_points:
        columns[grade_id] = np.array([row.scores.get(grade_id, 0.0) for row in rows],
                                     dtype=float)
    return columns


def draw_histograms(report: ClassReport, path: str | os.PathLike) -> None:
    """One panel per column (total first): how many students got how many points."""
    columns = _scores(report)
    maxima = {"total": report.max_total, **report.max_points}
    n = len(columns)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, (name, values) in zip(axes.flat, columns.items(), strict=False):
        top = maxima[name]
        distinct = np.unique(values)
        if len(distinct) <= 15:
            counts = [(values == v).sum() for v in distinct]
            width = max(top, 1.0) / 25
            ax.bar(distinct, counts, width=width, color=BAR_COLOUR)
        else:
            ax.hist(values, bins=np.linspace(0.0, max(top, 1e-9), 11), color=BAR_COLOUR,
                    edgecolor="white")
        ax.set_xlim(-0.05 * max(top, 1.0), 1.05 * max(top, 1.0))
        ax.set_title(f"{name} (max {top:g})", fontsize=10)
        ax.set_xlabel("points")
        ax.set_ylabel("students")
        ax.yaxis.get_major_locator().set_params(integer=True)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    graded = len(next(iter(columns.values())))
    fig.suptitle(f"{report.assignment}: points of {graded} recorded student(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def frequent_failures(report: ClassReport, top: int = TOP_MESSAGES
                      ) -> dict[str, list[tuple[str, int]]]:
    """grade_id -> its ``top`` most frequent failure lines with how many students had each."""
    found: dict[str, Counter] = {grade_id: Counter() for grade_id in report.max_points}
    for row in report.rows:
        for grade_id, lines in row.failures.items():
            found.setdefault(grade_id, Counter()).update(set(lines))
    return {grade_id: counter.most_common(top) for grade_id, counter in found.items()}


def html_page(report: ClassReport, picture: str) -> str:
    """The page: summary, picture, per-cell table, failure messages, runs that did not finish.
    Every text from the report is escaped."""
    e = html.escape
    columns = _scores(report)
    counts = ", ".join(f"{sum(r.status == s for r in report.rows)} {s}" for s in STATUSES
                       if any(r.status == s for r in report.rows))
    lines = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.assignment)}: the class at a glance</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:1em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}"
        "td.n{text-align:right}code{white-space:pre-wrap}</style></head><body>",
        f"<h1>{e(report.assignment)}</h1>",
        f"<p>{e(str(len(report.rows)))} student(s): {e(counts)}.</p>",
        f'<img src="{e(picture, quote=True)}" alt="{e(report.assignment, quote=True)}: '
        'histogram of the total and of each graded cell" style="max-width:100%">',
        "<p>Each panel counts the students at each score; a tall bar at 0 for one cell points "
        "at an exercise many students could not do (its failure messages are below).</p>",
        "<h2>Per graded cell</h2>",
        "<table><tr><th>cell</th><th>max</th><th>mean</th><th>full marks</th><th>zero</th>"
        "</tr>",
    ]
    maxima = {"total": report.max_total, **report.max_points}
    for name, values in columns.items():
        mean = f"{values.mean():.2f}" if len(values) else "-"
        lines.append(f"<tr><td>{e(name)}</td><td class=n>{maxima[name]:g}</td>"
                     f"<td class=n>{mean}</td><td class=n>{int((values >= maxima[name]).sum())}"
                     f"</td><td class=n>{int((values == 0).sum())}</td></tr>")
    lines.append("</table>")
    lines.append("<h2>Most frequent failure messages</h2>")
    for grade_id, messages in frequent_failures(report).items():
        lines.append(f"<h3>{e(grade_id)}</h3>")
        if not messages:
            lines.append("<p>No failures.</p>")
            continue
        lines.append("<table><tr><th>students</th><th>message</th></tr>")
        lines += [f"<tr><td class=n>{count}</td><td><code>{e(message)}</code></td></tr>"
                  for message, count in messages]
        lines.append("</table>")
    unfinished = [r for r in report.rows if r.status not in ("graded", "missing")]
    if unfinished:
        lines.append("<h2>Runs that did not finish</h2><table><tr><th>student</th>"
                     "<th>status</th><th>why</th></tr>")
        lines += [f"<tr><td>{e(r.student)}</td><td>{e(r.status)}</td><td><code>{e(r.detail)}"
                  "</code></td></tr>" for r in unfinished]
        lines.append("</table>")
    lines.append("</body></html>")
    return "\n".join(lines) + "\n"
