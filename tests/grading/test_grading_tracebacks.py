"""What a student reads when a test cell fails in IPython: their own lines, not the helpers'.

One IPython shell in a subprocess (a fresh interpreter, as a kernel is) imports the helpers in
a cell, as the locked setup cell does, and runs failing test cells; the tracebacks it prints
are compared with what the student should see.
"""

import subprocess
import sys
import textwrap

import pytest

SESSION = textwrap.dedent('''
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance(colors="NoColor")
    CELLS = [
        "import numpy as np\\nfrom backprop_grading import check, check_close, check_shape, call",
        "def sigmoid_grad(x):\\n    raise NotImplementedError()",
        "def student_backward(dy):\\n    return helper(dy)\\ndef helper(dy):\\n"
        "    return dy @ np.ones((5, 2))",
        "call(sigmoid_grad, np.ones(3))",
        "call(student_backward, np.ones((4, 3)))",
        "check_close(np.ones(3), np.zeros(3), 'dx = dy * (1 - y**2)', name='dx')",
    ]
    for cell in CELLS:
        print("=== cell")
        shell.run_cell(cell)
''')


@pytest.fixture(scope="module")
def outputs() -> list[str]:
    """The output of each cell of SESSION."""
    run = subprocess.run([sys.executable, "-c", SESSION], capture_output=True, text=True,
                         timeout=120, check=True)
    return run.stdout.split("=== cell\n")[1:]


def test_a_blank_exercise_ends_at_the_blank_with_one_line_and_no_helper_frame(outputs):
    text = outputs[3]
    assert "delegation.py" not in text and "[... skipping hidden 2 frame]" in text
    assert "----> 2     raise NotImplementedError()" in text
    assert text.rstrip().endswith(
        "ExerciseNotWritten: exercise not written yet: replace `raise NotImplementedError()` "
        "in `sigmoid_grad` with your code")


def test_an_error_in_student_code_shows_the_students_frames_only(outputs):
    text = outputs[4]
    assert "delegation.py" not in text and "backprop_grading" not in text
    assert "----> 2     return helper(dy)" in text and "----> 4     return dy @ np.ones" in text
    assert "ValueError: matmul" in text


def test_a_failed_check_shows_only_the_line_that_raises_it(outputs):
    # IPython always shows the frame an exception was raised in: the check's own raise
    text = outputs[5]
    assert text.count("File ") == 1 and "raise failure(problem, message)" in text
    assert text.rstrip().endswith("GradingFailure: dx is wrong at 3 of 3 entries (100%); the "
                                  "worst is at index 0: expected 0, got 1.\n"
                                  "dx = dy * (1 - y**2)")
