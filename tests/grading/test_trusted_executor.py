"""The trusted executor inside real nbgrader autograde runs: attacks that beat one shared kernel.

A tiny course: a setup cell, two answer cells (``double`` and ``slope``, whose kit reference
``numerical_gradient`` the test forbids) and two test cells (3 + 2 points), autograded with
``TrustedExecute`` in place of nbgrader's Execute. Kind A attacks change how later cells run
in the student's kernel; kind F attacks delegate to the kit's reference implementation in ways
a profile hook in the student's own interpreter does not see (another thread, a copy of the
reference's code object). The student's process runs in the bubblewrap sandbox (the executor's
default): reading the instructor's notebook from there finds nothing, and a process it leaves
behind ends with the notebook.
"""

import shutil
import time
import uuid

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook
from one_notebook_course import COURSE_AUTOGRADE, DOUBLE_SOLUTION, cell, tiny_course

from backprop_course.trusted.executor import TrustedExecute, _student_output

ASSIGNMENT, NOTEBOOK = "ps1", "tricks"

SETUP = """\
import numpy as np
from backprop_grading import check, check_close, check_shape, call, Rubric
from backprop_kit.gradcheck import numerical_gradient"""

DOUBLE = DOUBLE_SOLUTION

SLOPE = '''\
def slope(f, x):
    """Centered-difference gradient of the scalar function f at x (any shape)."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = 1e-6
        grad[i] = (f(x + step) - f(x - step)) / 2e-6
    return grad
    ### END SOLUTION'''

TEST_DOUBLE = """\
x = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -1.5]])
rubric = Rubric()
with rubric.part(1, "output shape"):
    check_shape(call(double, x), (2, 3), "double(x)")
with rubric.part(1, "values"):
    check_close(call(double, x), 2 * x, "multiply by 2", name="double(x)")
### BEGIN HIDDEN TESTS
with rubric.part(1, "hidden"):
    check_close(call(double, np.zeros(2)), np.zeros(2), "double(0) is 0", name="double(0)")
### END HIDDEN TESTS
rubric.score()"""

TEST_SLOPE = """\
x = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]])
got = call(slope, lambda v: float(np.sum(v ** 3)), x, forbid=(numerical_gradient,))
check_close(got, 3 * x ** 2, "the gradient of sum(x**3) is 3 x**2", rtol=1e-5, atol=1e-7,
            name="slope")"""

WRONG = "def double(x):\n    return None\n\ndef slope(f, x):\n    return 0 * x\n"
#: In the command line of the process the "background_process" attack leaves behind.
MARK = f"bkexecutor{uuid.uuid4().hex[:10]}"
#: Answer-cell code that runs the answer cells of the instructor's notebook, if it can read it.
READ_SOURCE = f"""import json, pathlib
for path in pathlib.Path.cwd().parents[2].glob("source/*/{NOTEBOOK}.ipynb"):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["metadata"].get("nbgrader", {{}}).get("solution"):
            exec("".join(cell["source"]))
"""
#: Answer-cell code that leaves a sleeping process outside the kernel's session (double fork).
BACKGROUND = f"""import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(30) # {MARK}"])
    os._exit(0)
os.wait()
"""
SUBMISSIONS = {
    "honest_alternative": ("def double(x):\n    print('doubling')\n    return x + x",
                           "def slope(f, x):\n    flat = x.ravel()\n    out = []\n"
                           "    for i in range(flat.size):\n        e = np.zeros(flat.size)\n"
                           "        e[i] = 1e-5\n        out.append((f((flat + e).reshape(x.shape))"
                           " - f((flat - e).reshape(x.shape))) / 2e-5)\n"
                           "    return np.array(out).reshape(x.shape)"),
    "input_transformer": ("get_ipython().input_transformers_cleanup.append("
                          "lambda lines: ['pass\\n'])\n" + WRONG, None),
    "ast_transformer": ("import ast\nclass Blank(ast.NodeTransformer):\n"
                        "    def visit_Module(self, node):\n"
                        "        return ast.Module([ast.Pass()], [])\n"
                        "get_ipython().ast_transformers.append(Blank())\n" + WRONG, None),
    "custom_exception_handler": ("get_ipython().set_custom_exc((BaseException,), "
                                 "lambda *args, **kwargs: None)\n" + WRONG, None),
    "display_hook": ("import sys\nsys.displayhook = lambda value: print(3)\n"
                     "get_ipython().display_formatter.formatters['text/plain'].for_type("
                     "int, lambda *a: None)\n" + WRONG, None),
    "thread_delegation": (DOUBLE, "import threading\ndef slope(f, x):\n    box = []\n"
                          "    t = threading.Thread(target=lambda: box.append("
                          "numerical_gradient(f, x)))\n    t.start()\n    t.join()\n"
                          "    return box[0] if box else 0 * x"),
    "reads_instructor_notebook": (READ_SOURCE, READ_SOURCE),
    "background_process": (BACKGROUND + WRONG, None),
    "malformed_output": ("from IPython.display import publish_display_data\n"
                         "publish_display_data({'text/plain': 7, 'text/html': ['<b>']})\n"
                         + DOUBLE, SLOPE),
    "copied_code_delegation": (DOUBLE, "import types\n"
                               "slope = types.FunctionType(numerical_gradient.__code__, "
                               "numerical_gradient.__globals__, 'slope', (1e-5,))\n"
                               "slope.__kwdefaults__ = {'h': 1e-5}"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    mp = pytest.MonkeyPatch()
    api = tiny_course(root, ASSIGNMENT, NOTEBOOK, [
        cell("setup", SETUP, "setup"), cell("answer", DOUBLE, "double"),
        cell("answer", SLOPE, "slope"), cell("test", TEST_DOUBLE, "test_double", 3),
        cell("test", TEST_SLOPE, "test_slope", 2)], autograde_preprocessors=COURSE_AUTOGRADE)
    sent = []  # every cell source the executor sends to a student's process
    run_there = TrustedExecute._in_student_process
    mp.setattr(TrustedExecute, "_in_student_process",
               lambda self, cell, *args, **kw: sent.append(cell.source) or run_there(
                   self, cell, *args, **kw))
    try:
        assert api.generate_assignment(ASSIGNMENT, force=True)["success"]
        release = nbformat.read(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                                as_version=4)
        answers = {c.metadata.nbgrader.grade_id: c for c in release.cells
                   if c.metadata.nbgrader.get("solution")}
        blank = {gid: cell.source for gid, cell in answers.items()}
        scores = {}
        for student, (double, slope) in {**SUBMISSIONS, "blank": (None, None),
                                         "reference": (DOUBLE, SLOPE)}.items():
            answers["double"].source = double if double is not None else blank["double"]
            answers["slope"].source = slope if slope is not None else blank["slope"]
            folder = root / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(release, folder / f"{NOTEBOOK}.ipynb")
            result = api.autograde(ASSIGNMENT, student, force=True, create=True)
            assert result["success"], result.get("log")
            with Gradebook(api.coursedir.db_url) as gradebook:
                submission = gradebook.find_submission(ASSIGNMENT, student)
                scores[student] = {g.name: g.score for nb_ in submission.notebooks
                                   for g in nb_.grades}
    finally:
        mp.undo()
    time.sleep(1)  # the leftover process would still be asleep: is it there?
    scores["leftover processes"] = [p.pid for p in psutil.process_iter(["cmdline"])
                                    if MARK in " ".join(p.info["cmdline"] or [])]
    yield root, scores, sent
    shutil.rmtree(root, ignore_errors=True)


def _outputs(root, student, grade_id):
    nb = nbformat.read(root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                       as_version=4)
    return next(c for c in nb.cells if c.metadata["nbgrader"].get("grade_id") == grade_id).outputs


def _text(outputs):
    return "".join(o.get("text", "") + o.get("evalue", "") for o in outputs)


def test_reference_and_an_honest_alternative_get_full_marks(graded):
    root, scores, _ = graded
    assert scores["reference"] == {"test_double": 3, "test_slope": 2}
    assert scores["honest_alternative"] == {"test_double": 3, "test_slope": 2}
    assert "doubling" in _text(_outputs(root, "honest_alternative", "test_double"))


def test_an_output_the_notebook_format_forbids_is_dropped_not_fatal(graded):
    root, scores, _ = graded
    assert scores["malformed_output"] == {"test_double": 3, "test_slope": 2}
    nb = nbformat.read(root / "autograded" / "malformed_output" / ASSIGNMENT /
                       f"{NOTEBOOK}.ipynb", as_version=4)
    nbformat.validate(nb)
    answer = next(c for c in nb.cells if c.metadata["nbgrader"].get("grade_id") == "double")
    assert answer.outputs == []


def test_blank_notebook_gets_zero(graded):
    root, scores, _ = graded
    assert scores["blank"] == {"test_double": 0, "test_slope": 0}
    assert "NotImplementedError" in _text(_outputs(root, "blank", "test_double"))


@pytest.mark.parametrize("student", ["input_transformer", "ast_transformer",
                                     "custom_exception_handler", "display_hook",
                                     "reads_instructor_notebook", "background_process"])
def test_changing_how_the_students_kernel_runs_cells_earns_nothing(graded, student):
    root, scores, _ = graded
    assert scores[student] == {"test_double": 0, "test_slope": 0}
    assert "0/3 points" in _text(_outputs(root, student, "test_double"))


@pytest.mark.parametrize("student", ["thread_delegation", "copied_code_delegation"])
def test_delegating_to_the_kit_through_a_thread_or_copied_code_is_caught(graded, student):
    root, scores, _ = graded
    assert scores[student] == {"test_double": 3, "test_slope": 0}
    assert "delegation detected: your function called backprop_kit.gradcheck.numerical." \
           "numerical_gradient" in _text(_outputs(root, student, "test_slope"))


def test_no_process_of_the_students_sandbox_outlives_the_notebook(graded):
    _, scores, _ = graded
    assert scores["leftover processes"] == []


def test_test_cells_never_reach_the_students_process(graded):
    root, _, sent = graded
    nb = nbformat.read(root / "autograded" / "reference" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                       as_version=4)
    assert "double(0) is 0" in nb.cells[3].source  # the test cell ran with its hidden part
    assert SETUP in sent and len(sent) == 3 * (len(SUBMISSIONS) + 2)  # setup + 2 answers each
    assert not [source for source in sent if "call(" in source or "double(0) is 0" in source]


WELL_FORMED = [
    {"output_type": "stream", "name": "stdout", "text": "1\n"},
    {"output_type": "display_data", "data": {"text/plain": "x", "image/png": "iVBORw0K"},
     "metadata": {}},
    {"output_type": "execute_result", "data": {"text/plain": "2"}, "metadata": {},
     "execution_count": 3},
    {"output_type": "error", "ename": "ValueError", "evalue": "no", "traceback": ["a", "b"]},
]
MALFORMED = [
    "not a dict", {"output_type": "exploit"}, {"output_type": "stream", "name": ["stdout"],
                                                 "text": "x"},
    {"output_type": "stream", "name": "stdout", "text": 5},
    {"output_type": "display_data", "data": "text/html"},
    {"output_type": "display_data", "data": {"text/plain": 7}},
    {"output_type": "execute_result", "data": {}, "execution_count": "first"},
    {"output_type": "error", "ename": "E", "evalue": "v", "traceback": "one string"},
]


@pytest.mark.parametrize("item", WELL_FORMED, ids=lambda item: item["output_type"])
def test_a_well_formed_output_from_the_students_process_is_kept(item):
    output = _student_output(item)
    assert output is not None and output.output_type == item["output_type"]
    assert {key: output[key] for key in item} == item


@pytest.mark.parametrize("item", MALFORMED, ids=repr)
def test_a_malformed_output_from_the_students_process_is_dropped(item):
    assert _student_output(item) is None
