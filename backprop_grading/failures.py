"""The two exceptions a test cell can raise."""


class GradingFailure(AssertionError):
    """A graded check failed; the message tells the student what to look at next."""


class TamperingDetected(GradingFailure):
    """The notebook replaced something the grading relies on (numpy, a built-in, a helper).

    Unlike an ordinary failure it is never turned into partial credit: a rubric that sees it
    scores nothing.
    """
