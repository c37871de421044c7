"""The test's own objects and the student's, across the trusted executor's channel.

A graph of notebook 02's kind (a ``Value`` class given by the instructor, completed by the
student with ``Value.__mul__ = value_mul``) mixes nodes made by the test (trusted side) and
nodes made by the student's code (answer server). Each node lives where it was made; the other
side holds a handle. These tests drive a real answer server (a plain child process, no
sandbox) through :class:`backprop_course.trusted.kernel_side.Session`, with a dict for the
trusted kernel's namespace.
"""

import numpy as np
import pytest

from backprop_course.trusted.kernel_side import Session, StandIn

SETUP = '''\
class Value:
    def __init__(self, data, inputs=()):
        self.data, self.grad, self.inputs = data, 0.0, tuple(inputs)
        self._answer = 42.0  # instructor-only state the student must not read

    def __repr__(self):
        return f"Value({self.data})"


def helper(x):
    return 2 * x
'''

STUDENT = '''\
def value_mul(self, other):
    out = Value(self.data * other.data, (self, other))

    def local_backward():
        self.grad += other.data * out.grad
        other.grad += self.data * out.grad

    out.local_backward = local_backward
    return out


def grad_of(node):
    return node.grad


def peek(node):
    return node._answer


Value.__mul__ = value_mul
Value.double = lambda self: Value(2 * self.data)
# attempts to change what the instructor's class does on the trusted side
Value.__repr__ = lambda self: "hacked"
Value.__eq__ = lambda self, other: True
Value.__bool__ = lambda self: False


class AlwaysSmall(float):
    """A number of the student's own class that agrees with every check."""

    def __lt__(self, other):
        return True

    __le__ = __gt__ = __ge__ = __lt__

    def __sub__(self, other):
        return 0.0

    __rsub__ = __sub__

    def __abs__(self):
        return 0.0

    def __bool__(self):
        return True


def relative_error(a, b):
    return AlwaysSmall(1e9)


asked = []


class RawMemory:
    """Points numpy on the other side at memory of the student's choosing."""

    @property
    def __array_interface__(self):
        asked.append("__array_interface__")
        return {"data": (8, False), "shape": (4,), "typestr": "<f8", "version": 3}


def raw_memory():
    return RawMemory()


def what_was_asked():
    return list(asked)
'''


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("objects")
    trusted = {"__name__": "__main__"}
    session = Session(str(workdir), [SETUP], sandbox=None)
    try:
        session.run(SETUP, student=False)
        exec(compile(SETUP, "<setup>", "exec"), trusted)
        session.run(STUDENT, student=True)
        session.bind(trusted)
        yield session, trusted
    finally:
        session.process.kill()
        session.process.wait()


def test_a_students_node_built_on_the_tests_nodes_points_at_them_and_updates_them(session):
    _, ns = session
    Value = ns["Value"]
    a, b = Value(2.0), Value(-3.0)
    out = ns["value_mul"](a, b)
    assert isinstance(out, Value) and type(out) is StandIn
    assert out.data == -6.0
    assert out.inputs[0] is a and out.inputs[1] is b  # the test's own objects, not copies
    out.grad = 0.5
    out.local_backward()  # the student's closure changes the test's nodes
    assert (a.grad, b.grad) == (-1.5, 1.0)


def test_operators_the_student_added_work_on_the_tests_objects(session):
    _, ns = session
    Value = ns["Value"]
    a = Value(4.0)
    product = a * Value(0.5)
    assert isinstance(product, Value) and product.data == 2.0
    assert product.inputs[0] is a
    doubled = a.double()
    assert doubled.data == 8.0


def test_what_the_instructors_class_defines_is_not_replaced_by_the_student(session):
    _, ns = session
    Value = ns["Value"]
    a, b = Value(1.0), Value(2.0)
    assert repr(a) == "Value(1.0)" and a._answer == 42.0
    assert a != b and "__eq__" not in vars(Value) and bool(a)


def test_the_students_code_reads_public_attributes_only(session):
    _, ns = session
    node = ns["Value"](1.5)
    node.grad = 7.0
    assert ns["grad_of"](node) == 7.0
    with pytest.raises(AttributeError, match="_answer"):
        ns["peek"](node)


def test_a_forged_request_for_a_private_attribute_or_a_functions_attribute_is_refused(session):
    sess, ns = session
    node = ns["Value"](1.0)
    sess.handle_for(node)
    sess.handle_for(ns["helper"])
    for request in ({"op": "getattr", "target": node, "name": "_answer"},
                    {"op": "getattr", "target": node, "name": "__class__"},
                    {"op": "setattr", "target": node, "name": "__class__", "value": 1},
                    {"op": "getattr", "target": ns["helper"], "name": "__globals__"},
                    {"op": "getattr", "target": ns["helper"], "name": "x"},
                    {"op": "getattr", "target": ns["Value"], "name": "double"}):
        reply = sess.serve(request)
        assert reply["op"] == "raise" and reply["type"] == "AttributeError", request
    assert sess.serve({"op": "getattr", "target": node, "name": "data"})["value"] == 1.0


def test_an_object_of_a_class_only_the_student_defines_decides_no_comparison_or_truth(session):
    """``err < tol``, ``abs(err - x)``, ``bool(err)`` on such an object would be the student's
    code answering the test's question: each raises, so the check fails."""
    _, ns = session
    err = ns["relative_error"](1.0, 2.0)
    assert type(err) is StandIn
    for attempt in (lambda: err < 1e-7, lambda: 1e-7 > err, lambda: err - 1.0,
                    lambda: 1.0 - err, lambda: abs(err), lambda: bool(err)):
        with pytest.raises(TypeError, match="not a number, an array"):
            attempt()
    assert bool(ns["relative_error"]), "a student's function is still a true value"


def test_numpy_never_takes_an_array_interface_from_the_students_process(session):
    _, ns = session
    obj = ns["raw_memory"]()
    assert not hasattr(obj, "__array_interface__")
    assert np.asarray(obj).dtype == object, "an opaque object, not an array over raw memory"
    assert ns["what_was_asked"]() == [], "the student's property never ran"
