"""Rubric: partial credit per part, failures recorded in one line."""

import numpy as np
import pytest

from backprop_grading import (
    GradingFailure,
    Rubric,
    call,
    check,
    check_close,
    check_shape,
)
from backprop_grading.rubric import RubricMisuse

OUT = np.arange(12.0).reshape(4, 3)


def student_stub(x):
    raise NotImplementedError()


def test_all_parts_passing_earn_every_point_as_an_int(capfd):
    rubric = Rubric()
    with rubric.part(1, "output shape"):
        check_shape(OUT, (4, 3), "out")
    with rubric.part(2, "values"):
        check_close(OUT, np.arange(12.0).reshape(4, 3), name="out")
    score = rubric.score()
    assert (score, type(score)) == (3, int)
    assert capfd.readouterr() == ("3/3 points: [ok] output shape (1)  [ok] values (2)\n", "")


def test_a_failed_part_loses_only_its_points_and_says_why(capfd):
    rubric = Rubric()
    with rubric.part(1, "output shape"):
        check_shape(OUT, (4, 3), "out")
    with rubric.part(2, "values"):
        check_close(OUT + 1.0, OUT, "add the bias once", name="out")
    with rubric.part(3, "no NaN"):
        check(True, "unreachable")
    assert rubric.score() == 4
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ("4/6 points: [ok] output shape (1)  [FAILED] values (2): out is wrong at 12 "
                   "of 12 entries (100%); the worst is at index (0, 0): expected 0, got 1. add "
                   "the bias once  [ok] no NaN (3)\n")


def test_the_release_summary_says_how_many_points_the_hidden_parts_check(capfd):
    rubric = Rubric(points=4)  # one hidden point was removed from the student's copy
    with rubric.part(1, "output shape"):
        check_shape(OUT, (4, 3), "out")
    with rubric.part(2, "values"):
        check_close(OUT + 1.0, OUT, "add the bias once", name="out")
    assert rubric.score() == 1
    out = capfd.readouterr().out
    assert out.startswith("1/3 visible points; 1 more point is checked when your work is "
                          "graded: [ok] output shape (1)  [FAILED] values (2)"), out


def test_a_rubric_with_all_its_points_visible_reads_as_before(capfd):
    rubric = Rubric(points=2.5)
    with rubric.part(2.5, "values"):
        check(True, "unreachable")
    assert rubric.score() == 2.5
    assert capfd.readouterr().out == "2.5/2.5 points: [ok] values (2.5)\n"


def test_parts_worth_more_than_the_cell_are_the_authors_mistake():
    rubric = Rubric(points=1)
    with rubric.part(2, "values"):
        check(True, "unreachable")
    with pytest.raises(RubricMisuse, match="add up to 2 points, more than the cell's 1"):
        rubric.score()
    with pytest.raises(ValueError, match="positive number"):
        Rubric(points=0)


def test_fractional_points_add_up_as_floats():
    rubric = Rubric()
    for points, ok in [(0.5, True), (1.25, False), (0.25, True)]:
        with rubric.part(points, f"part worth {points}"):
            check(ok, "failed on purpose")
    score = rubric.score()
    assert (score, type(score)) == (0.75, float)


def test_errors_from_student_code_are_failed_parts_with_a_one_line_message(capfd):
    rubric = Rubric()
    with rubric.part(1, "runs"):
        call(student_stub, OUT)
    with rubric.part(1, "types"):
        call(lambda x: x + "1", OUT)
    with rubric.part(1, "still graded"):
        check(True, "")
    assert rubric.score() == 1
    out = capfd.readouterr().out
    line = student_stub.__code__.co_firstlineno + 1
    assert f"[FAILED] runs (1): NotImplementedError (raised in student_stub, line {line})" in out
    assert "[FAILED] types (1): UFuncTypeError: " in out
    assert out.count("\n") == 1


def test_a_multi_line_failure_message_is_shown_on_one_line():
    rubric = Rubric()
    with rubric.part(2, "values"):
        raise GradingFailure("first line\n  hint on the second line")
    assert rubric.results[0].failure == "first line hint on the second line"


def test_keyboard_interrupt_is_not_swallowed():
    rubric = Rubric()
    with pytest.raises(KeyboardInterrupt):
        with rubric.part(1, "interrupted"):
            raise KeyboardInterrupt
    assert rubric.results == []


@pytest.mark.parametrize("points", [0, -1, True, "2", float("nan")])
def test_part_points_must_be_a_positive_number(points):
    with pytest.raises(ValueError, match="rubric part points must be a positive number"):
        Rubric().part(points, "x")


def test_misuse_is_refused_clearly():
    rubric = Rubric()
    with pytest.raises(ValueError, match="needs at least one completed rubric.part"):
        rubric.score()
    with pytest.raises(RuntimeError, match="rubric parts cannot be nested: 'inner' was opened "
                                           "inside 'outer'"):
        with rubric.part(1, "outer"), rubric.part(1, "inner"):
            pass


def notebook_functions(source: str) -> dict:
    """Run ``source`` as a notebook cell does: in a namespace named ``__main__``."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


NOTEBOOK = notebook_functions('''
def sigmoid_grad(x):
    # YOUR CODE HERE
    raise NotImplementedError()

class Value:
    def local_backward(self):
        raise NotImplementedError

def explained(x):
    raise NotImplementedError("only for floats")
''')


def test_a_blank_exercise_says_so_in_one_line(capfd):
    rubric = Rubric()
    with rubric.part(1, "through call"):
        call(NOTEBOOK["sigmoid_grad"], OUT)
    with rubric.part(1, "called directly"):
        NOTEBOOK["Value"]().local_backward()
    with rubric.part(1, "a NotImplementedError with a message is the student's own"):
        NOTEBOOK["explained"](OUT)
    assert rubric.score() == 0
    assert [r.failure for r in rubric.results] == [
        "exercise not written yet: replace `raise NotImplementedError()` in `sigmoid_grad` "
        "with your code",
        "exercise not written yet: replace `raise NotImplementedError()` in "
        "`Value.local_backward` with your code",
        "NotImplementedError: only for floats (raised in explained, line 11)"]


def test_a_long_diagnosis_is_cut_but_the_authors_hint_is_shown_whole():
    rubric = Rubric()
    long_name = "dx_of_a_layer_with_a_rather_long_description_" * 8
    hint = "dx = dy @ W.T: " + "the hint goes on for a while. " * 12
    with rubric.part(1, "values"):
        check_close(OUT + 1.0, OUT, hint, name=long_name)
    failure = rubric.results[0].failure
    assert failure.endswith("... " + " ".join(hint.split()))
    assert failure.startswith(long_name[:100]) and len(failure) == 300 + 1 + len(hint.strip())
