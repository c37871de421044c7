"""call(): delegation to forbidden reference code is caught under any name; warnings become
notes on stdout; the student's exceptions and the previous profiler are left as they were."""

import functools
import sys
import warnings

import numpy as np
import pytest

from backprop_grading import ExerciseNotWritten, GradingFailure, call

RNG = np.random.default_rng(3)
X = RNG.normal(size=(5, 3))
DY = RNG.normal(size=(5, 3))


# Dummy "kit reference implementations" (the kit's layers are written elsewhere).
def reference_tanh_backward(dy, y):
    return dy * (1.0 - y * y)


class ReferenceTanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return reference_tanh_backward(dy, self.y)

    @staticmethod
    def local_gradient(y):
        return 1.0 - y * y


def logged(function):
    @functools.wraps(function)
    def wrapper(*args):
        return function(*args)
    return wrapper


@logged
def reference_relu_backward(dy, x):
    return dy * (x > 0)


@logged
def reference_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def delegation_message(name):
    return (f"delegation detected: your function called {__name__}.{name}, the kit's reference "
            f"implementation of what this exercise asks you to write. Implement it with numpy "
            f"operations.")


def honest_tanh_backward(dy, y):
    return dy * (1.0 - y**2)


def test_a_correct_implementation_is_not_flagged_and_its_result_returned(capfd):
    y = np.tanh(X)
    dx = call(honest_tanh_backward, DY, y, forbid=(reference_tanh_backward, ReferenceTanh))
    np.testing.assert_allclose(dx, DY * (1.0 - np.tanh(X) ** 2))
    assert capfd.readouterr() == ("", "")


def test_calling_the_reference_directly_is_detected():
    def student(dy, y):
        return reference_tanh_backward(dy, y)

    with pytest.raises(GradingFailure) as info:
        call(student, DY, np.tanh(X), forbid=(reference_tanh_backward,))
    assert str(info.value) == delegation_message("reference_tanh_backward")


def test_calling_the_reference_under_another_name_is_detected():
    namespace = {"__name__": "__main__", "ref": reference_tanh_backward}
    exec("my_helper = ref\ndef student(dy, y):\n    return my_helper(dy, y)\n", namespace)
    with pytest.raises(GradingFailure, match="called .*reference_tanh_backward"):
        call(namespace["student"], DY, np.tanh(X), forbid=(reference_tanh_backward,))


@pytest.mark.parametrize("student, called", [
    (lambda x, dy: (layer := ReferenceTanh(), layer.forward(x), layer.backward(dy))[-1],
     "ReferenceTanh.forward"),
    (lambda x, dy: dy * ReferenceTanh.local_gradient(np.tanh(x)), "ReferenceTanh.local_gradient"),
])
def test_calling_a_method_of_a_forbidden_class_is_detected(student, called):
    with pytest.raises(GradingFailure) as info:
        call(student, X, DY, forbid=(ReferenceTanh,))
    assert str(info.value) == delegation_message(called)


def test_a_forbidden_bound_method_is_detected():
    layer = ReferenceTanh()
    layer.forward(X)
    with pytest.raises(GradingFailure, match="called .*ReferenceTanh.backward"):
        call(lambda dy: layer.backward(dy), DY, forbid=(layer.backward,))


def test_decorated_references_are_unwrapped_so_the_shared_wrapper_is_not_forbidden():
    with pytest.raises(GradingFailure, match="called .*reference_relu_backward"):
        call(lambda dy, x: reference_relu_backward(dy, x), DY, X,
             forbid=(reference_relu_backward,))
    s = call(lambda x: reference_sigmoid(x), X, forbid=(reference_relu_backward,))
    np.testing.assert_allclose(s, 1.0 / (1.0 + np.exp(-X)))


def test_the_previous_profiler_is_restored_after_success_failure_and_error():
    calls = []

    def previous_profiler(frame, event, arg):
        calls.append(event)

    def raising(dy, y):
        raise ValueError("student bug")

    before = sys.getprofile()
    sys.setprofile(previous_profiler)
    try:
        call(honest_tanh_backward, DY, X, forbid=(reference_tanh_backward,))
        assert sys.getprofile() is previous_profiler
        with pytest.raises(GradingFailure):
            call(reference_tanh_backward, DY, X, forbid=(reference_tanh_backward,))
        assert sys.getprofile() is previous_profiler
        with pytest.raises(ValueError):
            call(raising, DY, X, forbid=(reference_tanh_backward,))
        assert sys.getprofile() is previous_profiler
    finally:
        sys.setprofile(before)
    assert calls  # the previous profiler really was active around the calls


def test_a_student_exception_propagates_unchanged():
    raised = []

    def student(dy, y):
        raised.append(NotImplementedError("write the backward pass"))
        raise raised[0]

    with pytest.raises(NotImplementedError) as info:
        call(student, DY, X, forbid=(reference_tanh_backward,))
    assert info.value is raised[0]


def test_warnings_become_notes_on_stdout_and_never_reach_stderr(capfd, recwarn):
    def noisy(x):
        for _ in range(3):
            warnings.warn("this learning rate looks large", stacklevel=1)
        return np.exp(x * 1000.0)

    call(noisy, X)
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ("note: your code emitted a warning: UserWarning: this learning rate looks "
                   "large (3 times)\n"
                   "note: your code emitted a warning: RuntimeWarning: overflow encountered in "
                   "exp\n")
    assert len(recwarn) == 0


def test_warnings_are_reported_even_when_the_student_code_raises(capfd):
    def warns_then_fails(x):
        warnings.warn("about to fail", stacklevel=1)
        raise TypeError("unsupported operand")

    with pytest.raises(TypeError):
        call(warns_then_fails, X)
    assert capfd.readouterr() == ("note: your code emitted a warning: UserWarning: about to "
                                  "fail\n", "")


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(TypeError, match="forbid items must be Python functions, methods or "
                                        "classes, got ufunc"):
        call(honest_tanh_backward, DY, X, forbid=(np.tanh,))
    with pytest.raises(TypeError, match="call\\(\\) needs the student's function as its first "
                                        "argument, got NoneType"):
        call(None, DY)


def test_forbidding_a_class_forbids_the_methods_it_inherits_from_a_private_base():
    from backprop_kit.layers import BatchNorm1d

    def student_batchnorm(x):
        return BatchNorm1d(x.shape[1]).forward(x)  # forward is defined on _BatchNorm

    with pytest.raises(GradingFailure, match="BatchNorm"):
        call(student_batchnorm, X.copy(), forbid=(BatchNorm1d,))


def test_forbidding_one_layer_leaves_the_shared_layer_base_methods_allowed():
    from backprop_kit.layers import BatchNorm1d, Linear

    def student_uses_another_layer(x):
        layer = Linear(3, 2, rng=np.random.default_rng(0))
        layer.forward(x)
        layer.zero_grad()  # defined on the Layer base that BatchNorm1d shares
        return layer.backward(np.ones((x.shape[0], 2)))

    dx = call(student_uses_another_layer, X.copy(), forbid=(BatchNorm1d,))
    assert dx.shape == X.shape


def test_forbidding_a_subclass_leaves_its_public_parent_allowed():
    from backprop_kit.grad_checkpoint import CheckpointedSequential
    from backprop_kit.layers import Linear, Sequential

    def student_uses_plain_blocks(x):
        block = Sequential(Linear(3, 2, rng=np.random.default_rng(0)))
        return block.forward(x)  # Sequential.forward, which CheckpointedSequential inherits

    y = call(student_uses_plain_blocks, X.copy(), forbid=(CheckpointedSequential,))
    assert y.shape == (X.shape[0], 2)


def test_a_blank_exercise_fails_in_one_line_at_the_students_blank():
    namespace = {"__name__": "__main__"}  # notebook code, as IPython runs it
    exec(compile("def tanh_backward(dy, y):\n    raise NotImplementedError()\n", "<cell>",
                 "exec"), namespace)
    with pytest.raises(ExerciseNotWritten) as info:
        call(namespace["tanh_backward"], DY, X, forbid=(reference_tanh_backward,))
    assert str(info.value) == ("exercise not written yet: replace `raise NotImplementedError()` "
                               "in `tanh_backward` with your code")
    assert info.traceback[-1].frame.code.name == "tanh_backward"  # ends at the blank line
    assert info.value.__cause__ is None and info.value.__suppress_context__
