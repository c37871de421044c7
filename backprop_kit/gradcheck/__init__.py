"""Gradient checking: compare a hand-written backward pass with finite differences.

The entry points::

    check_scalar_gradient(f, grad_f, x)          # a scalar function and its gradient
    check_gradients(forward, backward, inputs)   # a function of several arrays
    check_layer(layer, x)                        # a layer: its input and every parameter
    check_bptt(rnn, x, h0)                       # a recurrent net, one time step at a time

each return a :class:`GradCheckReport`: print it (or show it in a notebook) for a table of
the largest relative error per array, the worst entry, and a hint at the bug - a factor 2 or
1/N, a sign flip, a transpose, a missing sum over the batch, one wrong row. Call
``report.raise_if_failed()`` in a test.

How it works, module by module:

- ``numerical``: centered differences (f(x+h) - f(x-h)) / 2h, perturbing the arrays in place
  and restoring them exactly; also the one-sided slopes that reveal kinks;
- ``relative_error``: the relative error ``|a - n| / max(|a| + |n|, floor)``, the thresholds
  (pass at 1e-6) and the kink test;
- ``bug_hints``: the hints, which recognise the usual bugs;
- ``gradcheck_report``: the report objects and their text and HTML forms;
- ``check``: the three entry points;
- ``bptt``: the BPTT bug localizer, which checks the last 1, 2, ..., T steps of a recurrent
  net and names the first step (counting back from the end) where its backward goes wrong;
- ``validation``: float64 only - float32 and integer arrays raise TypeError, because float32
  rounding (about 1e-7) swamps the differences we measure (explained there).
"""

from backprop_kit.gradcheck.bptt import (
    BPTTReport,
    SequenceFunctions,
    StepCheck,
    StepFunctions,
    check_bptt,
)
from backprop_kit.gradcheck.check import check_gradients, check_layer, check_scalar_gradient
from backprop_kit.gradcheck.gradcheck_report import ArrayReport, GradCheckReport, GradientCheckError
from backprop_kit.gradcheck.numerical import numerical_gradient, numerical_vjp
from backprop_kit.gradcheck.relative_error import DEFAULT_TOLERANCE

__all__ = [
    "DEFAULT_TOLERANCE",
    "ArrayReport",
    "BPTTReport",
    "GradCheckReport",
    "GradientCheckError",
    "SequenceFunctions",
    "StepCheck",
    "StepFunctions",
    "check_bptt",
    "check_gradients",
    "check_layer",
    "check_scalar_gradient",
    "numerical_gradient",
    "numerical_vjp",
]
