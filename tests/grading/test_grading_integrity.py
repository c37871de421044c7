"""Tamper detection: replaced numpy functions, built-ins, helpers and kernel hooks are caught."""

import builtins
import sys
import types

import numpy as np
import pytest

import backprop_grading as grading
from backprop_grading import (
    GradingFailure,
    Rubric,
    TamperingDetected,
    call,
    check,
    check_close,
    verify_integrity,
)
from backprop_grading.diagnose import value_problem
from backprop_grading.integrity import KernelState, Snapshot
from backprop_grading.originals import capture_references

FIX = "; remove that line and restart the kernel"
NOTEBOOK_SETUP = "import numpy as np\nfrom backprop_grading import check, check_close, call\n"


def always_true(*args, **kwargs):
    return True


def tampering_message(**kwargs):
    with pytest.raises(TamperingDetected) as info:
        check(True, "a correct answer")
    return str(info.value)


def notebook(source=""):
    """A namespace like a notebook's: the setup cell ran, then ``source``."""
    namespace = {"__name__": "__main__"}
    exec(NOTEBOOK_SETUP + source, namespace)
    return namespace


def test_intact_state_passes_after_ordinary_numpy_use():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 2))
    np.testing.assert_allclose(a, a)
    with np.errstate(divide="ignore"):
        np.log(np.zeros(2))
    old = np.seterr(all="ignore")
    np.seterr(**old)
    np.set_printoptions(precision=4)
    np.set_printoptions(precision=8)
    np.linalg.norm(a)
    verify_integrity(globals())
    exec("check(True, 'fine')", notebook())


@pytest.mark.parametrize("owner, name, label", [
    (np, "allclose", "np.allclose"),
    (np, "isclose", "np.isclose"),
    (np, "tanh", "np.tanh"),
    (np.testing, "assert_allclose", "np.testing.assert_allclose"),
    (np.testing, "assert_array_equal", "np.testing.assert_array_equal"),
    (builtins, "abs", "builtins.abs"),
    (builtins, "isinstance", "builtins.isinstance"),
    (sys, "setprofile", "sys.setprofile"),
])
def test_a_replaced_function_is_detected(monkeypatch, owner, name, label):
    original = getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda *a, **k: original(*a, **k))
    assert tampering_message() == f"Tampering detected: {label} was replaced in your notebook" + FIX


def test_a_deleted_function_and_a_replaced_code_object_are_detected(monkeypatch):
    monkeypatch.delattr(np, "isfinite")
    assert tampering_message().startswith("Tampering detected: np.isfinite was deleted")
    monkeypatch.undo()
    monkeypatch.setattr(np.isclose._implementation, "__code__", always_true.__code__)
    assert tampering_message().startswith("Tampering detected: the code of np.isclose was "
                                          "replaced")


def test_replacing_numpy_in_sys_modules_is_detected(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", types.ModuleType("numpy"))
    assert "sys.modules['numpy'] was replaced" in tampering_message()


def test_comparisons_use_the_captured_originals_while_numpy_is_patched(monkeypatch):
    wrong, right = np.array([1.0, 5.0]), np.array([1.0, 2.0])
    for name in ("allclose", "isclose", "array_equal", "all", "any", "max", "abs", "absolute",
                 "isnan", "isfinite", "asarray", "array"):
        monkeypatch.setattr(np, name, always_true)
    assert value_problem(wrong, right, "dx", rtol=1e-6, atol=1e-9) == (
        "dx is wrong at 1 of 2 entries (50%); the worst is at index 1: expected 2, got 5")
    with pytest.raises(TamperingDetected, match=r"np\.\w+ was replaced in your notebook"):
        check_close(wrong, right)


def test_helpers_rebound_in_the_calling_notebook_are_detected():
    for source, name in [("check_close = lambda *a, **k: None", "check_close"),
                         ("def call(fn, *a, **k): return fn(*a)", "call"),
                         ("class Rubric: pass", "Rubric")]:
        namespace = notebook(source)
        with pytest.raises(TamperingDetected) as info:
            exec("check(True, 'a correct answer')", namespace)
        assert str(info.value) == (f"Tampering detected: `{name}` in your notebook is no "
                                   f"longer the grading helper (it was rebound)" + FIX)


def test_numpy_rebound_in_the_calling_notebook_is_detected():
    namespace = notebook("np = type('FakeNumpy', (), {'allclose': lambda *a, **k: True})")
    with pytest.raises(TamperingDetected, match="`np` in your notebook is no longer numpy"):
        exec("check(True, 'a correct answer')", namespace)


def test_a_notebook_global_hiding_a_builtin_is_detected_but_common_names_are_not():
    namespace = notebook("isinstance = lambda *a: True\n")
    with pytest.raises(TamperingDetected) as info:
        exec("check(True, 'ok')", namespace)
    assert str(info.value) == ("Tampering detected: your notebook defines a global `isinstance` "
                               "that hides Python's built-in isinstance; rename that variable "
                               "and restart the kernel")
    exec("check(True, 'ok')", notebook("sum = 0\nmax = 3.5\nfrom builtins import len\n"))


def test_another_kit_module_may_use_the_helper_names_for_its_own_things(monkeypatch):
    kit_module = types.ModuleType("backprop_kit.some_module")
    monkeypatch.setitem(sys.modules, kit_module.__name__, kit_module)
    exec("from backprop_grading import check\nlocal_check = check\ncheck = None\n"
         "local_check(True, 'ok')", vars(kit_module))
    impostor = dict(vars(kit_module))  # same names, but not that module's own globals
    with pytest.raises(TamperingDetected, match="`check` in your notebook"):
        exec("local_check(True, 'ok')", impostor)


@pytest.mark.parametrize("module, name", [
    (grading, "check_close"),
    (grading.compare, "check_close"),
    (grading.rubric, "verify_integrity"),
    (grading.diagnose, "value_problem"),
])
def test_a_replaced_attribute_of_the_grading_package_is_detected(monkeypatch, module, name):
    monkeypatch.setattr(module, name, always_true)
    assert tampering_message() == (f"Tampering detected: {module.__name__}.{name} was replaced "
                                   f"in your notebook" + FIX)


def test_switching_off_verification_in_one_module_is_caught_by_the_others(monkeypatch):
    monkeypatch.setattr(grading.compare, "verify_integrity", lambda *a: None)
    check(True, "the patched check no longer verifies")
    with pytest.raises(TamperingDetected, match="compare.verify_integrity was replaced"):
        call(abs, -1.0)


def test_changed_code_defaults_or_methods_of_the_helpers_are_detected(monkeypatch):
    monkeypatch.setattr(check_close, "__code__", always_true.__code__)
    with pytest.raises(TamperingDetected, match="code or defaults of "
                                                "backprop_grading.compare.check_close"):
        call(abs, -1.0)
    monkeypatch.undo()
    monkeypatch.setitem(check_close.__kwdefaults__, "rtol", 1e9)
    with pytest.raises(TamperingDetected, match="check_close were changed"):
        check_close(1.0, 2.0)
    monkeypatch.undo()
    monkeypatch.setattr(Rubric, "score", lambda self: 3)
    with pytest.raises(TamperingDetected,
                       match="the class backprop_grading.rubric.Rubric was changed"):
        check(True, "ok")


def test_tampering_is_a_grading_failure_with_an_assertion_error_base():
    assert issubclass(TamperingDetected, GradingFailure)
    assert issubclass(GradingFailure, AssertionError)


def test_capture_refuses_functions_replaced_before_the_import(monkeypatch):
    capture_references()  # the genuine ones pass
    typed_in_a_cell = eval("lambda *a, **k: True", {"__name__": "__main__"})
    monkeypatch.setattr(np, "allclose", typed_in_a_cell)
    with pytest.raises(TamperingDetected, match=r"np.allclose was replaced before "
                                                r"backprop_grading was imported"):
        capture_references()
    monkeypatch.undo()

    def fake_abs(x):
        return x

    monkeypatch.setattr(builtins, "abs", fake_abs)
    with pytest.raises(TamperingDetected, match="builtins.abs was replaced before"):
        capture_references()


class FakeEvents:
    def __init__(self):
        self.callbacks = {"pre_run_cell": []}


class FakeFormatter:
    def format(self, value):
        return {"text/plain": repr(value)}, {}


class FakeShell:
    """The attributes of an IPython shell that KernelState watches."""

    def __init__(self):
        self.custom_exceptions = ()
        self.CustomTB = None
        self.displayhook = object()
        self.display_formatter = FakeFormatter()
        self.events = FakeEvents()
        self.user_ns = {}

    def showtraceback(self, *args, **kwargs):
        pass

    def _showtraceback(self, *args):
        pass

    def showsyntaxerror(self, *args, **kwargs):
        pass


def kernel_problem(shell, hook=None):
    kernel = KernelState.of(shell)
    kernel.cell_hook = hook
    return kernel.problem()


def test_kernel_hooks_that_hide_errors_are_detected():
    kernel = KernelState.of(FakeShell())
    assert kernel.problem() is None
    kernel.shell.showtraceback = lambda *a, **k: None
    assert kernel.problem() == ("the kernel's get_ipython().showtraceback was replaced in your "
                                "notebook")
    kernel = KernelState.of(FakeShell())
    kernel.shell.custom_exceptions = (AssertionError,)  # what set_custom_exc does
    assert kernel.problem() == ("the kernel's get_ipython().custom_exceptions was replaced in "
                                "your notebook")


def test_an_unregistered_before_cell_check_is_detected():
    shell = FakeShell()

    def hook(info=None):
        pass

    shell.events.callbacks["pre_run_cell"].append(hook)
    assert kernel_problem(shell, hook) is None
    shell.events.callbacks["pre_run_cell"].remove(hook)
    assert kernel_problem(shell, hook) == ("the grading check that runs before each cell was "
                                           "unregistered")


def test_a_score_displayed_as_another_number_is_detected():
    kernel = KernelState.of(FakeShell())
    assert kernel.number_display_problem(2) is None

    class LyingFormatter:
        def format(self, value):
            return {"text/plain": "3" if value == 0 else repr(value)}, {}

    kernel.shell.display_formatter = LyingFormatter()
    assert kernel.number_display_problem(0) == ("the notebook changed how numbers are "
                                                "displayed (0 is shown as '3')")


def test_a_snapshot_with_a_kernel_reports_kernel_tampering():
    shell = FakeShell()
    snapshot = Snapshot.take([grading], {"check": check}, shell)
    assert snapshot.find() is None
    shell.CustomTB = lambda *a: None
    with pytest.raises(TamperingDetected, match="get_ipython\\(\\).CustomTB was replaced"):
        snapshot.verify()
