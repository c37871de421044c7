"""Keep warnings off stderr: nbgrader scores a test cell zero for any output on stderr.

Importing the grading package calls :func:`route_warnings_to_stdout`, so a warning raised
anywhere (numpy's "overflow encountered in exp" included: numpy reports floating-point
problems through the warnings module) is printed to stdout as a note. :func:`warnings_as_notes`
goes further for student code run by ``call()``: it catches every warning, however the
notebook set the warning filters, and prints each distinct one once.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def show_warning_on_stdout(message: Warning | str, category: type[Warning], filename: str,
                           lineno: int, file: object = None, line: str | None = None) -> None:
    """Replacement for :func:`warnings.showwarning` that always writes to ``sys.stdout``."""
    sys.stdout.write(f"note: {category.__name__}: {message}\n")


def route_warnings_to_stdout() -> None:
    """Make every displayed Python warning go to stdout instead of stderr."""
    warnings.showwarning = show_warning_on_stdout


@contextmanager
def warnings_as_notes() -> Iterator[None]:
    """Catch warnings raised in the block and print them to stdout when it ends.

    Each distinct warning becomes one line, "note: your code emitted a warning: RuntimeWarning:
    overflow encountered in exp (3 times)", printed even when the block raises.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            counts: dict[str, int] = {}
            for record in caught:
                text = f"{record.category.__name__}: {record.message}"
                counts[text] = counts.get(text, 0) + 1
            for text, count in counts.items():
                times = f" ({count} times)" if count > 1 else ""
                sys.stdout.write(f"note: your code emitted a warning: {text}{times}\n")
