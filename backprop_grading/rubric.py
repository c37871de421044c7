"""Partial credit for a test cell that checks several independent things.

::

    rubric = Rubric(points=4)   # the cell's nbgrader points
    with rubric.part(1, "output shape"):
        check_shape(out, (4, 3), "out")
    with rubric.part(2, "values"):
        check_close(out, expected, "out is wrong: ...", name="out")
    rubric.score()   # last expression of the cell: nbgrader awards the number it returns

A part fails when anything inside raises an Exception: a failed check, or an error in the
student's code (NotImplementedError, TypeError, ...); the failure is recorded as one line and
the cell goes on with the next part. The parts' points must add up to the cell's nbgrader
points. In the student's release the hidden parts are gone: given the cell's points, the summary
says how many more are checked at grading time ("3/3 visible points; 1 more point is checked
when your work is graded"). """

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from .failures import GradingFailure, not_written
from .formatting import one_line


class RubricMisuse(RuntimeError):
    """The test cell uses the rubric wrongly (nested parts); never recorded as a failed part."""


@dataclass(frozen=True)
class PartResult:
    """Outcome of one rubric part; ``failure`` is None when it passed."""

    points: int | float
    description: str
    failure: str | None


def describe_failure(error: BaseException) -> str:
    """One line for a failed part: a check's own message, or the error and where it was raised.

    A check's diagnosis is cut at 300 characters, its author's hint never is; an error of the
    student's code is cut as a whole, and an exercise left blank says so.

    Returns
    -------
    str
        e.g. "NotImplementedError: ... (raised in sigmoid_grad, line 12)".
    """
    try:
        text = str(error)
    except Exception:  # a student-defined exception whose __str__ fails
        text = ""
    blank = not_written(error)
    if blank is not None:
        return str(blank)
    if isinstance(error, GradingFailure):
        problem, hint = getattr(error, "problem", text), getattr(error, "hint", "")
        if not (isinstance(problem, str) and isinstance(hint, str)):
            problem, hint = text, ""  # a subclass of the student's own making
        line = " ".join(part for part in (one_line(problem), one_line(hint, limit=None)) if part)
        return line or "check failed"
    head = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return one_line(head + _where_raised(error))


def _where_raised(error: BaseException) -> str:
    """Where the error left notebook code (module ``__main__``), else its innermost frame.

    An error that came from the student's process through the trusted executor's channel says
    where it was raised there (attribute ``raised_in``).
    """
    raised_in = getattr(error, "raised_in", None)
    if isinstance(raised_in, str):
        return raised_in
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    in_notebook = [tb for tb in frames if tb.tb_frame.f_globals.get("__name__") == "__main__"]
    if not frames:
        return ""
    chosen = (in_notebook or frames)[-1]
    return f" (raised in {chosen.tb_frame.f_code.co_name}, line {chosen.tb_lineno})"


def _format_points(points: int | float) -> str:
    return f"{points:g}"


class RubricPart:
    """Context manager for one part of a :class:`Rubric`; made by :meth:`Rubric.part`."""

    def __init__(self, rubric: Rubric, points: int | float, description: str) -> None:
        self.rubric = rubric
        self.points = points
        self.description = description

    def __enter__(self) -> None:
        if self.rubric.open_part is not None:
            raise RubricMisuse(f"rubric parts cannot be nested: {self.description!r} was "
                               f"opened inside {self.rubric.open_part.description!r}")
        self.rubric.open_part = self

    def __exit__(self, exc_type: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        self.rubric.open_part = None
        if isinstance(error, RubricMisuse) or (error is not None
                                               and not isinstance(error, Exception)):
            return False  # the author's mistake, or KeyboardInterrupt: not the student's answer
        failure = None if error is None else describe_failure(error)
        self.rubric.results.append(PartResult(self.points, self.description, failure))
        return error is not None


class Rubric:
    """Points for independent parts of one test cell; see the module docstring.

    Attributes
    ----------
    results : list of PartResult
        One entry per completed part, in order.
    """

    def __init__(self, points: int | float | None = None) -> None:
        """``points``: the cell's nbgrader points, when known (parts beyond them are an error;
        parts short of them are the hidden ones, announced in the summary)."""
        if points is not None and (isinstance(points, bool)
                                   or not isinstance(points, (int, float)) or not points > 0):
            raise ValueError(f"Rubric points must be a positive number, got {points!r}")
        self.points = points
        self.results: list[PartResult] = []
        self.open_part: RubricPart | None = None

    def part(self, points: int | float, description: str) -> RubricPart:
        """A context manager worth ``points`` when nothing inside it raises.

        Parameters
        ----------
        points : int or float
            Positive.
        description : str
            Shown in the summary ("output shape").
        """
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
            raise ValueError(f"rubric part points must be a positive number, got {points!r}")
        if not isinstance(description, str) or not description:
            raise TypeError(f"rubric part description must be a non-empty str, got "
                            f"{description!r}")
        return RubricPart(self, points, description)

    def _headline(self, earned: int | float, total: int | float) -> str:
        """``"2/3 points: "``, or with hidden points still to come, ``"2/3 visible points; 1
        more point is checked when your work is graded: "``."""
        if self.points is None or abs(total - self.points) <= 1e-9:
            return f"{_format_points(earned)}/{_format_points(total)} points: "
        if total > self.points:
            raise RubricMisuse(f"the rubric's parts add up to {_format_points(total)} points, "
                               f"more than the cell's {_format_points(self.points)}")
        rest = round(self.points - total, 9)
        unit = "point is" if rest == 1 else "points are"
        return (f"{_format_points(earned)}/{_format_points(total)} visible points; "
                f"{_format_points(rest)} more {unit} checked when your work is graded: ")

    def score(self) -> int | float:
        """Print the summary to stdout and return the points earned.

        Prints e.g. ``2/3 points: [ok] output shape (1)  [FAILED] values (2): <message>``;
        when the rubric was given more points than its parts add up to (the hidden parts left
        the student's copy), ``2/3 visible points; 1 more point is checked when your work is
        graded: ...``.

        Returns
        -------
        int or float
            A plain Python number (an int when all parts' points are ints), which nbgrader
            reads as the cell's partial credit.

        Raises
        ------
        ValueError
            When no part was completed.
        RubricMisuse
            When the parts add up to more than the rubric's ``points``.
        """
        __tracebackhide__ = True  # IPython and pytest show the test cell's line, not this frame
        if not self.results:
            raise ValueError("Rubric.score() needs at least one completed rubric.part(...)")
        earned = sum(r.points for r in self.results if r.failure is None)
        total = sum(r.points for r in self.results)
        if all(isinstance(r.points, int) for r in self.results):
            earned = int(earned)
        else:
            earned = round(float(earned), 9)
        items = [f"[ok] {r.description} ({_format_points(r.points)})" if r.failure is None
                 else f"[FAILED] {r.description} ({_format_points(r.points)}): {r.failure}"
                 for r in self.results]
        print(self._headline(earned, total) + "  ".join(items))
        return earned
