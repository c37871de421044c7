"""The trusted shell: a forked child of the grading process that runs the instructor's cells.

Its outputs must be what nbgrader scored when the tests ran in a Jupyter kernel (stderr is a
``stderr`` stream, worth 0 in a test cell; a cell's value is an ``execute_result`` whose number
is partial credit), a cell past its time limit must be stopped, nothing submitted beside the
notebook may be importable from it, and nothing may carry over from one student's child to the
next. The end-to-end tests grade a tiny course with nbgrader's autograde and TrustedExecute.
"""

import shutil
import sys
import time

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade
from one_notebook_course import DOUBLE_SOLUTION, cell, tiny_course

from backprop_course.trusted.trusted_shell import TrustedShell

EXECUTOR = "backprop_course.trusted.executor.TrustedExecute"


@pytest.fixture
def shell(tmp_path):
    shells = []

    def make(start=None):
        folder = tmp_path / f"trusted{len(shells)}"
        folder.mkdir()
        shells.append(TrustedShell(str(folder), start))
        return shells[-1]

    yield make
    for made in shells:
        made.close()


def _graded_cell(outputs, points=2):
    node = nbformat.v4.new_code_cell("", metadata={"nbgrader": {
        "grade": True, "solution": False, "points": points, "grade_id": "t"}})
    node.outputs = [nbformat.from_dict(o) for o in outputs]
    return node


def test_outputs_are_notebook_outputs_in_order(shell):
    trusted = shell()
    reply = trusted.run_cell("from IPython.display import display\nprint('a')\n"
                             "display({'x': 1}, raw=True)\nprint('b')\n1.5", timeout=30)
    assert reply.status == "ok"
    assert [o["output_type"] for o in reply.outputs] == [
        "stream", "display_data", "stream", "execute_result"]
    assert reply.outputs[0]["text"] == "a\n" and reply.outputs[2]["text"] == "b\n"
    assert reply.outputs[3]["data"]["text/plain"] == "1.5"
    assert reply.outputs[3]["execution_count"] == reply.execution_count == 1
    assert determine_grade(_graded_cell(reply.outputs)) == (1.5, 2)  # partial credit
    failed = trusted.run_cell("x = 3\nraise ValueError('wrong value')", timeout=30)
    assert failed.status == "error" and failed.execution_count == 2
    assert failed.outputs[-1]["ename"] == "ValueError"
    assert failed.outputs[-1]["evalue"] == "wrong value"
    assert any("wrong value" in line for line in failed.outputs[-1]["traceback"])
    assert trusted.run_cell("x", timeout=30).outputs[0]["data"]["text/plain"] == "3"


def test_stderr_is_a_stderr_stream_that_scores_zero(shell):
    trusted = shell()
    reply = trusted.run_cell("import sys\nprint('fine')\nprint('careful', file=sys.stderr)\n2",
                             timeout=30)
    streams = {o["name"]: o["text"] for o in reply.outputs if o["output_type"] == "stream"}
    assert streams == {"stdout": "fine\n", "stderr": "careful\n"}
    assert determine_grade(_graded_cell(reply.outputs)) == (0, 2)


def test_a_cell_past_its_time_limit_is_interrupted_and_the_shell_goes_on(shell):
    trusted = shell()
    trusted.run_cell("kept = 7", timeout=30)
    started = time.monotonic()
    reply = trusted.run_cell("while True:\n    pass", timeout=1)
    assert time.monotonic() - started < 10
    assert reply.status == "timeout"
    assert reply.outputs[-1]["ename"] == "KeyboardInterrupt"
    assert trusted.run_cell("kept", timeout=30).outputs[0]["data"]["text/plain"] == "7"


def test_a_cell_that_ignores_the_interrupt_is_killed(shell, monkeypatch):
    monkeypatch.setattr("backprop_course.trusted.trusted_shell.INTERRUPT_GRACE", 0.5)
    trusted = shell()
    reply = trusted.run_cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                             "while True:\n    pass", timeout=1)
    assert reply.status == "timeout" and "killed" in reply.outputs[-1]["evalue"]
    gone = time.monotonic() + 5
    while psutil.pid_exists(trusted.pid) and time.monotonic() < gone and \
            psutil.Process(trusted.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.05)
    assert not psutil.pid_exists(trusted.pid) or \
        psutil.Process(trusted.pid).status() == psutil.STATUS_ZOMBIE
    later = trusted.run_cell("1", timeout=30)
    assert later.status == "error" and later.outputs[0]["ename"] == "GradingError"


def test_nothing_beside_the_grader_is_importable(shell, tmp_path, monkeypatch):
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "backprop_shadowed.py").write_text("VALUE = 'from the submission'\n")
    monkeypatch.chdir(submitted)  # the grading process runs in the submission's folder,
    monkeypatch.syspath_prepend(str(submitted))  # with it on its path, twice over
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    trusted = shell()
    reply = trusted.run_cell("import os\nprint(os.listdir('.'))\nimport backprop_shadowed",
                             timeout=30)
    assert reply.outputs[0]["text"] == "[]\n"
    assert reply.outputs[-1]["ename"] == "ModuleNotFoundError"


def test_no_state_carries_over_to_the_next_students_shell(shell):
    first = shell()
    first.run_cell("import json, backprop_grading\nleak = 1\njson.leaked = 1\n"
                   "backprop_grading.leaked = 1\nimport warnings\n"
                   "warnings.simplefilter('ignore')", timeout=30)
    first.close()
    second = shell()
    reply = second.run_cell("import json, backprop_grading, warnings\n"
                            "print('leak' in globals(), hasattr(json, 'leaked'), "
                            "hasattr(backprop_grading, 'leaked'))\n"
                            "warnings.warn('shown again')", timeout=30)
    # the first shell silenced warnings; the grading helpers show them as notes on stdout
    assert reply.outputs[0]["text"].startswith("False False False\n")
    assert "shown again" in reply.outputs[0]["text"]
    assert second.pid != first.pid


# --- end to end: nbgrader autograde with TrustedExecute -----------------------------------

SETUP = "import numpy as np\nfrom backprop_grading import check_close, call"
TEST_DOUBLE = ("x = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -1.5]])\n"
               "check_close(call(double, x), 2 * x, 'multiply by 2', name='double(x)')")
TEST_AGAIN = "check_close(call(double, np.ones(3)), 2 * np.ones(3), 'ones', name='double(1)')"
STUDENTS = {
    "reference": "def double(x):\n    return 2.0 * x",
    "noisy": "import sys\ndef double(x):\n    print('debugging', file=sys.stderr)\n"
             "    return 2.0 * x",
    "endless": "def double(x):\n    while True:\n        pass",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    api = tiny_course(root, "ps1", "shell", [
        cell("setup", SETUP, "setup"), cell("answer", DOUBLE_SOLUTION, "double"),
        cell("test", TEST_DOUBLE, "test_double", 2), cell("test", TEST_AGAIN, "test_again", 1)],
        autograde_preprocessors=[
            EXECUTOR, "nbgrader.preprocessors.IgnorePattern",
            "nbconvert.preprocessors.ClearMetadataPreprocessor",
            "nbgrader.preprocessors.LimitOutput", "nbgrader.preprocessors.SaveAutoGrades",
            "nbgrader.preprocessors.AssignLatePenalties",
            "nbgrader.preprocessors.CheckCellMetadata"])
    api.config.Execute.timeout = 3
    results = {}
    assert api.generate_assignment("ps1", force=True)["success"]
    release = nbformat.read(root / "release" / "ps1" / "shell.ipynb", as_version=4)
    answer = next(c for c in release.cells if c.metadata.nbgrader.get("solution"))
    for student, source in STUDENTS.items():
        answer.source = source
        folder = root / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(release, folder / "shell.ipynb")
        started = time.monotonic()
        result = api.autograde("ps1", student, force=True, create=True)
        assert result["success"], result.get("log")
        with Gradebook(api.coursedir.db_url) as gradebook:
            submission = gradebook.find_submission("ps1", student)
            scores = {g.name: g.score for n in submission.notebooks for g in n.grades}
        nb = nbformat.read(root / "autograded" / student / "ps1" / "shell.ipynb", 4)
        outputs = {c.metadata.nbgrader["grade_id"]: c.outputs for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade")}
        results[student] = (scores, outputs, time.monotonic() - started)
    yield results
    shutil.rmtree(root, ignore_errors=True)


def test_a_reference_answer_gets_full_marks(graded):
    assert graded["reference"][0] == {"test_double": 2, "test_again": 1}


def test_text_on_stderr_during_a_test_scores_zero(graded):
    scores, outputs, _ = graded["noisy"]
    assert scores == {"test_double": 0, "test_again": 0}
    assert any(o.output_type == "stream" and o.name == "stderr" and "debugging" in o.text
               for o in outputs["test_double"])


def test_a_test_past_the_time_limit_is_stopped_and_scores_zero(graded):
    scores, outputs, seconds = graded["endless"]
    assert scores == {"test_double": 0, "test_again": 0}
    assert [o.ename for o in outputs["test_double"] if o.output_type == "error"][-1] == \
        "CellTimeoutError"
    assert seconds < 30  # stopped at the 3 s limit, not left to run
