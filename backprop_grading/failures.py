"""The exceptions a test cell can raise, and the recognition of a blank exercise."""

from __future__ import annotations

#: The module name of notebook code (IPython runs cells in ``__main__``).
NOTEBOOK_MODULE = "__main__"


class GradingFailure(AssertionError):
    """A graded check failed; the message tells the student what to look at next.

    Parameters
    ----------
    problem : str
        What is wrong ("dx is wrong at 3 of 12 entries ...").
    hint : str, optional
        The test author's hint, shown on its own line after ``problem``.
    """

    def __init__(self, problem: str = "", hint: str = "") -> None:
        super().__init__("\n".join(text for text in (problem, hint) if text))
        self.problem = problem
        self.hint = hint


class ExerciseNotWritten(GradingFailure):
    """The student's function still holds the release's blank, ``raise NotImplementedError()``."""


def not_written(error: BaseException) -> ExerciseNotWritten | None:
    """The one-line failure for an exercise left blank, or None for any other error.

    The blank nbgrader leaves in a student's copy is ``raise NotImplementedError()``: an error
    of exactly that type, without a message, raised by notebook code (the innermost frame of
    its traceback runs in module ``__main__``). The kit's own abstract methods also raise a
    bare ``NotImplementedError``, but in their module, so they are not taken for a blank.

    Returns
    -------
    ExerciseNotWritten or None
        "exercise not written yet: replace `raise NotImplementedError()` in `sigmoid_grad`
        with your code".
    """
    if type(error) is not NotImplementedError or error.args or error.__traceback__ is None:
        return None
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    function = frame.f_code.co_qualname.replace(".<locals>.", ".")
    if frame.f_globals.get("__name__") != NOTEBOOK_MODULE or function == "<module>":
        return None
    return ExerciseNotWritten(f"exercise not written yet: replace `raise NotImplementedError()` "
                              f"in `{function}` with your code")
