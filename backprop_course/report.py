"""The per-exercise report of a class's grading run: one row per student."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

from backprop_course.static_scan import Flag

#: Status of a student's run, as the report shows it.
STATUSES = ("graded", "crashed", "timeout", "failed", "error", "missing")


@dataclass
class StudentResult:
    """One student's outcome.

    Attributes
    ----------
    student : str
    status : str
        One of :data:`STATUSES`: "graded"; "crashed" (the grading process died, e.g. killed
        for memory), "timeout" (over the per-notebook limit),
        "failed" (nbgrader could not process the submission: unreadable notebook, stripped
        metadata ...) - these three score 0 in the gradebook; "error" (the grading machinery
        failed, e.g. the Dask workers running it died again and again: nothing was recorded,
        a rerun grades it); "missing" (nothing submitted).
    scores : dict
        grade_id -> points, as the gradebook has them after the run.
    flags : list of Flag
        Findings of the static scan.
    detail : str
        Why a run was not graded (nbgrader's last error line, or the time limit).
    seconds : float
        Wall-clock time of the run.
    failures : dict
        grade_id -> failure lines of that cell (see
        :func:`backprop_course.worker.cell_failures`; student-controlled text).
    reused : bool
        Not graded in this run: the submission was unchanged since it was recorded.
    worker : str
        ``host:pid`` of the Dask worker that graded it ("" on this machine).
    """

    student: str
    status: str
    scores: dict[str, float] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0
    failures: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reused: bool = False
    worker: str = ""

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))


@dataclass
class ClassReport:
    """Rows of :class:`StudentResult` and the exercises' maximum points.

    Attributes
    ----------
    assignment : str
    max_points : dict
        grade_id -> max points, in notebook order: the report's columns.
    rows : list of StudentResult
        Sorted by student id.
    """

    assignment: str
    max_points: dict[str, float]
    rows: list[StudentResult]

    @property
    def max_total(self) -> float:
        return float(sum(self.max_points.values()))

    def row(self, student: str) -> StudentResult:
        """The row of ``student``; KeyError naming the known students when there is none."""
        for result in self.rows:
            if result.student == student:
                return result
        raise KeyError(f"no student {student!r} in the report; it has "
                       f"{[r.student for r in self.rows]}")

    def table(self) -> list[list[str]]:
        """Header plus one row per student: student, status, each grade_id, total, max, flags,
        detail."""
        header = ["student", "status", *self.max_points, "total", "max", "flags", "detail"]
        lines = [header]
        for r in self.rows:
            points = [_number(r.scores.get(gid, 0.0)) for gid in self.max_points]
            flags = "; ".join(f"{f.kind}({f.where})" for f in r.flags)
            lines.append([r.student, r.status, *points, _number(r.total),
                          _number(self.max_total), flags, r.detail])
        return lines

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`table` as CSV (the file is replaced), each cell :func:`csv_safe`."""
        with open(path, "w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows([[csv_safe(cell) for cell in row]
                                          for row in self.table()])

    def format_text(self) -> str:
        """The table for a terminal, then every flag and failure spelled out."""
        lines = self.table()
        short = [row[:-2] for row in lines]  # flags and details are listed below the table
        widths = [max(len(row[i]) for row in short) for i in range(len(short[0]))]
        text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                for row in short]
        counts = {s: sum(r.status == s for r in self.rows) for s in STATUSES}
        text.append("")
        text.append(f"{self.assignment}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
        reused = sum(r.reused for r in self.rows)
        if reused:
            text.append(f"{reused} of them unchanged since an earlier run: not graded again")
        for r in self.rows:
            if r.status == "error":
                text.append(f"{r.student}: not graded, nothing recorded (rerun to grade): "
                            f"{r.detail}")
            elif r.status != "graded":
                text.append(f"{r.student}: {r.status}, scored 0: {r.detail}")
            text.extend(f"{r.student}: {flag}" for flag in r.flags)
        return "\n".join(text)


def _number(value: float) -> str:
    return f"{value:g}"


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell: str) -> str:
    """``cell`` with a single quote in front when a spreadsheet would run it as a formula.

    Numbers (``-1``, ``-0.5``) stay as they are: a spreadsheet reads them as numbers, not code.
    """
    if not cell.startswith(FORMULA_STARTS):
        return cell
    try:
        float(cell)
    except ValueError:
        return "'" + cell
    return cell
