"""Short, readable renderings of numbers, shapes and indices for failure messages."""

from __future__ import annotations

SIGNIFICANT_DIGITS = 6


def format_number(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` with ``digits`` significant digits: 0.123457, 1.5e-08, nan, -inf."""
    return f"{value:.{digits}g}"


def format_pair(expected: float, got: float) -> tuple[str, str]:
    """Render two numbers with ~6 significant digits, more when 6 would make them look equal.

    Returns
    -------
    (str, str)
        e.g. ("0.5", "0.500001") rather than ("0.5", "0.5").
    """
    for digits in range(SIGNIFICANT_DIGITS, 18):
        shown = format_number(expected, digits), format_number(got, digits)
        if shown[0] != shown[1]:
            return shown
    return shown


def format_shape(shape: tuple[int, ...]) -> str:
    """``(4, 3)``; ``(3,)``; ``() (a scalar)``."""
    return "() (a scalar)" if shape == () else str(tuple(shape))


def format_index(index: tuple[int, ...]) -> str:
    """``(2, 1)`` for a 2-D index, ``3`` for a 1-D one."""
    index = tuple(int(i) for i in index)
    return str(index[0]) if len(index) == 1 else str(index)


def format_count(count: int, total: int, noun: str = "entries") -> str:
    """``5 of 12 entries (41.7%)``."""
    return f"{count} of {total} {noun} ({100.0 * count / total:.3g}%)"


def one_line(text: str, limit: int | None = 300) -> str:
    """Collapse whitespace and newlines into single spaces and cut at ``limit`` characters
    (None: never cut)."""
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
