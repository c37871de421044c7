"""The mistakes corpus: realistic wrong answers, and valid alternatives, per notebook.

Each ``mistakes_NN.py`` module in this folder holds plain data for one assignment:

``ASSIGNMENT``
    The folder name under ``solutions/`` ("02_scalar_autodiff").
``MISTAKES``
    ``{answer grade_id: [Mistake, ...]}``: at least three per graded exercise. An answer cell's
    test cell is the graded cell ``test_<grade_id>``.
``ALTERNATIVES``
    ``{answer grade_id: [Alternative, ...]}``: correct answers written differently from the
    reference; at least one per notebook.
``END_TO_END``
    ``[(answer grade_id, index into MISTAKES[grade_id]), ...]``: mistakes that are complete
    answer cells, put together into one submission that nbgrader autogrades end to end.

A mistake's ``cell`` is what the student's answer cell holds. It runs after the reference
answers, so it may redefine only the functions it gets wrong (plus the lines that attach them,
e.g. ``Value.__add__ = value_add``). tests/notebooks/test_mistakes.py reads every module here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """A wrong answer and what grading must make of it.

    Attributes
    ----------
    cell : str
        The answer cell's source, as a student would write it.
    phrase : str
        Text the visible test's output must contain: it points at the cause.
    score : float
        The points the graded test cell (hidden tests included) must award: fewer than the
        cell's points, and more than 0 when the mistake breaks only some independent parts.
    hidden_only : bool
        True for the few mistakes that by design only the hidden tests catch (another shape,
        a larger size); then the visible test must pass and ``phrase`` is matched against the
        hidden test's output.
    """

    cell: str
    phrase: str
    score: float
    hidden_only: bool = False


@dataclass(frozen=True)
class Alternative:
    """A correct answer written differently from the reference; it must get full marks.

    Attributes
    ----------
    cell : str
        The answer cell's source.
    what : str
        What makes it different ("an iterative depth-first search").
    """

    cell: str
    what: str
