"""The BPTT bug localizer: check a recurrent backward one time step at a time, from the end.

A gradient check of a whole recurrent layer says *that* dWh is wrong; this one says *from
which time step on*. It uses that the last k steps of a sequence are themselves a recurrent
net: run steps t..T-1 from the state h_{t-1} of the true forward pass (held fixed), with the
upstream gradients dh[:, t:], and check that small net's backward - the gradient reaching
h_{t-1} (its "dh0"), dx and every parameter - against finite differences
(:func:`~backprop_kit.gradcheck.check.check_gradients`, L = sum(dh * h), dh random). Doing
this for t = T-1, T-2, ..., 0 gives one row per step. The first row that fails, counting back
from T-1, names the step where the backward first goes wrong, and which arrays fail there
tell the usual bugs apart:

- wrong from the last step on, only dL/dh_{t-1} wrong: what is sent into the previous step
  through Wh is wrong (e.g. ``da @ Wh`` instead of ``da @ Wh.T``);
- wrong from the last step on, everything wrong: the step's local derivative is wrong (e.g.
  tanh' taken from the pre-activation a_t instead of the output h_t);
- right for one step, wrong from two on, dh and dx wrong: the gradient from step t+1 is not
  added to the upstream dh[:, t] (the recurrent term is missing);
- right for one step, wrong from two on, only parameters wrong: the parameter gradients are
  overwritten at each step instead of summed over t.

The row for t = 0 is the ordinary check of the whole sequence, including dL/dh0.

What can be checked (all in float64), passed as ``model``:

- a layer such as :class:`~backprop_kit.layers.RNN` or :class:`~backprop_kit.layers.LSTM`:
  ``forward(x, h0)`` (an LSTM: ``forward(x, h0, c0)``), ``backward(dh) -> dx``, ``params``,
  ``grads``, ``dh0`` (and ``dc0``), ``last_state``;
- :class:`StepFunctions`: one step, ``forward(x_t, h_prev, **params) -> (h_t, cache)`` and
  ``backward(dh_t, cache) -> (dx_t, dh_prev, *dparams)``; the checker runs the time loop
  (adding the carried gradient and summing the parameter gradients itself);
- :class:`SequenceFunctions`: a whole sequence, ``forward(x, h0, **params) -> (h, cache)``
  and ``backward(dh, cache) -> (dx, dh0, *dparams)``, with your own time loop.

Cost: row t perturbs every entry of x[:, t:], the state and the P parameters, twice each,
and runs T-t steps per perturbation: about (2/3) N D T^3 + (N H + P) T^2 single steps in
all. Keep the sizes small (N=3, T=6, D=4, H=5: about 4000 steps, well under a second).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from backprop_kit.gradcheck.check import check_gradients
from backprop_kit.gradcheck.gradcheck_report import GradCheckReport, GradientCheckError
from backprop_kit.gradcheck.numerical import DEFAULT_STEP
from backprop_kit.gradcheck.relative_error import DEFAULT_TOLERANCE
from backprop_kit.gradcheck.validation import require_float64
from backprop_kit.layers._validate import check_is_layer

__all__ = ["BPTTReport", "SequenceFunctions", "StepCheck", "StepFunctions", "check_bptt"]

STATE_NAMES = ("h0", "c0")
"""Names of the state arrays, in the order a layer's forward takes them after x."""


@dataclass(frozen=True)
class StepFunctions:
    """One recurrent step written as two functions, plus the parameters they take.

    Attributes
    ----------
    forward : callable
        ``forward(x_t, h_prev, **params) -> (h_t, cache)`` with x_t (N, D), h_prev and h_t
        (N, H); ``cache`` is anything backward needs.
    backward : callable
        ``backward(dh_t, cache) -> (dx_t, dh_prev, *dparams)``: dh_t (N, H) is the *total*
        gradient reaching h_t; returns dx_t (N, D), dh_prev (N, H) and one gradient per
        parameter, in the order of ``params``.
    params : dict of str to np.ndarray
        The parameters by the names forward takes them, e.g. ``{"Wx": Wx, "Wh": Wh, "b": b}``;
        float64. They are perturbed in place during the check and restored exactly.
    """

    forward: Callable[..., tuple[np.ndarray, Any]]
    backward: Callable[..., tuple[np.ndarray, ...]]
    params: dict[str, np.ndarray]


@dataclass(frozen=True)
class SequenceFunctions:
    """A whole-sequence recurrent forward and backward written as two functions.

    Attributes
    ----------
    forward : callable
        ``forward(x, h0, **params) -> (h, cache)`` with x (N, T, D), h0 (N, H), h (N, T, H).
    backward : callable
        ``backward(dh, cache) -> (dx, dh0, *dparams)``: dh (N, T, H); returns dx (N, T, D),
        dh0 (N, H) and one gradient per parameter, in the order of ``params``.
    params : dict of str to np.ndarray
        The parameters by the names forward takes them; float64, perturbed in place during
        the check and restored exactly.
    """

    forward: Callable[..., tuple[np.ndarray, Any]]
    backward: Callable[..., tuple[np.ndarray, ...]]
    params: dict[str, np.ndarray]


# ----------------------------------------------------------------------------------------
# One interface for the three kinds of model: run from a state, final state, gradients


class _Model:
    """What the check needs: run a sequence from a state, its final state, its gradients."""

    state_names: tuple[str, ...]
    params: dict[str, np.ndarray]

    def run(self, x: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray:
        """Forward over x (N, T', D) from ``state``; return h (N, T', H)."""
        raise NotImplementedError

    def final_state(self, x: np.ndarray, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The state after running x from ``state`` (copies)."""
        raise NotImplementedError

    def gradients(self, dh: np.ndarray) -> dict[str, Any]:
        """After ``run``: the gradients of sum(dh * h) by input name ("x", states, params)."""
        raise NotImplementedError


class _LayerModel(_Model):
    def __init__(self, layer: Any) -> None:
        wrap = " (for functions, wrap them in StepFunctions or SequenceFunctions)"
        check_is_layer(layer, "model", "check_bptt", hint=wrap)
        if not hasattr(layer, "last_state"):
            raise TypeError(
                f"check_bptt: model ({type(layer).__name__}) is not a recurrent layer: it "
                f"lacks last_state, the state after its last forward{wrap}"
            )
        self.layer = layer
        self.params = layer.params

    def zero_state(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run once without a state to learn the state's structure; return zeros of it."""
        self.layer.forward(x)
        parts = self._parts(self.layer.last_state)
        self.state_names = STATE_NAMES[: len(parts)]
        pairs = zip(self.state_names, parts, strict=True)
        return {name: np.zeros_like(part) for name, part in pairs}

    @staticmethod
    def _parts(last_state: Any) -> tuple[np.ndarray, ...]:
        parts = tuple(last_state) if isinstance(last_state, tuple) else (last_state,)
        if not 1 <= len(parts) <= len(STATE_NAMES):
            raise TypeError(f"check_bptt: last_state must be h or (h, c), got {len(parts)} parts")
        return parts

    def run(self, x: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray:
        return self.layer.forward(x, *(state[name] for name in self.state_names))

    def final_state(self, x: np.ndarray, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.run(x, state)
        parts = self._parts(self.layer.last_state)
        return {name: np.array(part) for name, part in zip(self.state_names, parts, strict=True)}

    def gradients(self, dh: np.ndarray) -> dict[str, Any]:
        dx = self.layer.backward(dh)
        states = {name: getattr(self.layer, "d" + name, None) for name in self.state_names}
        return {"x": dx, **states, **self.layer.grads}


def _named_gradients(
    returned: object, names: tuple[str, ...], function: str
) -> dict[str, Any]:
    """Map a tuple ``(dx, dh, *dparams)`` returned by a student's backward onto ``names``."""
    if not isinstance(returned, tuple | list) or len(returned) != len(names):
        got = (
            f"a {type(returned).__name__} of length {len(returned)}"
            if isinstance(returned, tuple | list)
            else f"a {type(returned).__name__}"
        )
        raise TypeError(
            f"check_bptt: {function} must return a tuple of {len(names)} gradients "
            f"({', '.join(names)}), got {got}"
        )
    return dict(zip(names, returned, strict=True))


class _FunctionModel(_Model):
    """SequenceFunctions as a model; StepFunctions are first turned into SequenceFunctions."""

    state_names = ("h0",)

    def __init__(self, functions: SequenceFunctions) -> None:
        self.functions = functions
        self.params = functions.params
        self.cache: Any = None

    def run(self, x: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray:
        result = self.functions.forward(x, state["h0"], **self.params)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError("check_bptt: forward must return a pair (h, cache)")
        h, self.cache = result
        return h

    def final_state(self, x: np.ndarray, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"h0": np.array(self.run(x, state)[:, -1])}

    def gradients(self, dh: np.ndarray) -> dict[str, Any]:
        names = ("x", "h0", *self.params)
        returned = self.functions.backward(dh, self.cache)
        return _named_gradients(returned, names, "backward")


def _loop_over_steps(steps: StepFunctions) -> SequenceFunctions:
    """The time loop around one-step functions: forward in t, backward in reverse t.

    Backward adds the gradient carried from step t+1 to the upstream dh[:, t] before calling
    the step's backward, and sums the parameter gradients over t, so only the step itself is
    under test."""
    names = ("dx_t", "dh_prev", *steps.params)

    def forward(x: np.ndarray, h0: np.ndarray, **params: np.ndarray) -> tuple[np.ndarray, Any]:
        h_prev, states, caches = h0, [], []
        for t in range(x.shape[1]):
            result = steps.forward(x[:, t], h_prev, **params)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError("check_bptt: the step forward must return a pair (h_t, cache)")
            h_prev, cache = result
            states.append(h_prev)
            caches.append(cache)
        return np.stack(states, axis=1), caches

    def backward(dh: np.ndarray, caches: list[Any]) -> tuple[np.ndarray, ...]:
        dx = [None] * len(caches)
        summed: dict[str, Any] = dict.fromkeys(steps.params, 0.0)  # None once one is missing
        carried = np.zeros_like(dh[:, 0])
        for t in range(len(caches) - 1, -1, -1):
            returned = steps.backward(dh[:, t] + carried, caches[t])
            grads = _named_gradients(returned, names, "the step backward")
            dx[t], carried = grads["dx_t"], grads["dh_prev"]
            for name in steps.params:
                part, total = grads[name], summed[name]
                summed[name] = None if part is None or total is None else total + part
        return (np.stack(dx, axis=1), carried, *summed.values())

    return SequenceFunctions(forward=forward, backward=backward, params=steps.params)


def _as_model(model: object) -> _Model:
    if isinstance(model, StepFunctions):
        return _FunctionModel(_loop_over_steps(model))
    if isinstance(model, SequenceFunctions):
        return _FunctionModel(model)
    return _LayerModel(model)


# ----------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class StepCheck:
    """The check of the last steps t..T-1, run from the true state h_{t-1} held fixed.

    Attributes
    ----------
    t : int
        The first step of the suffix.
    report : GradCheckReport
        Arrays ``"x"`` (N, T-t, D), the state (``"h0"``: the gradient reaching h_{t-1};
        ``"c0"`` for an LSTM) and every parameter (summed over steps t..T-1).
    """

    t: int
    report: GradCheckReport

    @property
    def passed(self) -> bool:
        """True if every array of this row passed."""
        return self.report.passed

    def failed(self) -> list[str]:
        """The names of the arrays that failed in this row."""
        return [array.name for array in self.report.arrays if not array.passed]


@dataclass(frozen=True, repr=False)
class BPTTReport:
    """The result of :func:`check_bptt`.

    Attributes
    ----------
    rows : list of StepCheck
        One per step, from t = T-1 down to t = 0 (the whole sequence).
    state_names : tuple of str
        ``("h0",)``, or ``("h0", "c0")`` for an LSTM.
    tolerance : float
        The pass threshold applied to every array.
    """

    rows: list[StepCheck]
    state_names: tuple[str, ...]
    tolerance: float

    @property
    def n_steps(self) -> int:
        """T, the length of the checked sequence."""
        return len(self.rows)

    @property
    def passed(self) -> bool:
        """True if every row passed."""
        return all(row.passed for row in self.rows)

    @property
    def full(self) -> GradCheckReport:
        """The check of the whole sequence (the row for t = 0), including dL/dh0."""
        return self.rows[-1].report

    def dh_errors(self) -> dict[int, float]:
        """The largest relative error of dL/dh_t for t = T-2 down to -1 (-1 is h0).

        Returns
        -------
        dict of int to float
            t -> max relative error of the gradient reaching h_t from the later steps
            (dL/dh_{T-1} is the upstream dh[:, T-1] itself, so it is not listed).
        """
        return {row.t - 1: row.report["h0"].max_rel_error for row in self.rows}

    @property
    def first_bad_step(self) -> int | None:
        """The step where the backward first goes wrong, counting back from T-1; None if none.

        Row t fails but row t+1 passed: backpropagating through steps t+1..T-1 is right,
        and including step t breaks something."""
        for row in self.rows:
            if not row.passed:
                return row.t
        return None

    @property
    def first_bad_dh(self) -> int | None:
        """The first t, counting back from T-1, where dL/dh_t is wrong (-1 means dL/dh0)."""
        for row in self.rows:
            if not row.report["h0"].passed:
                return row.t - 1
        return None

    @property
    def hint(self) -> str | None:
        """What the failing pattern suggests, or None if everything passed."""
        bad = self.first_bad_step
        if bad is None:
            return None
        failed = set(self.rows[self.n_steps - 1 - bad].failed())
        return _hint(bad, self.n_steps, failed, self.state_names)

    def raise_if_failed(self) -> None:
        """Raise GradientCheckError with the report's text if any row failed."""
        if not self.passed:
            raise GradientCheckError(str(self))

    def __str__(self) -> str:
        return _as_text(self)

    __repr__ = __str__


def _hint(bad: int, n_steps: int, failed: set[str], state_names: tuple[str, ...]) -> str:
    """Name the usual bug behind the pattern of failures of the first failing row."""
    states = failed & set(state_names)
    params = failed - states - {"x"}
    where = f"step t = {bad}"
    if bad == n_steps - 1:
        if failed == states:
            return (
                f"{where} (the last step): dx and the parameter gradients of a single step are "
                "right, but the gradient it sends into the previous state is wrong: check what "
                "is carried back through Wh, dh_prev = da_t @ Wh.T (the transpose, and da_t "
                "taken after the nonlinearity's derivative)"
            )
        if states and "x" in failed and params:
            return (
                f"{where} (the last step): every gradient of a single step is wrong, so the "
                "error is in what they all share: the local derivative of the nonlinearity "
                "(tanh'(a_t) = 1 - h_t**2 from the output h_t, not from the pre-activation "
                "a_t) or the gradient that enters the step"
            )
        return (
            f"{where} (the last step): a single step's backward is wrong for "
            f"{', '.join(sorted(failed))}; the table of that row below says how"
        )
    right = n_steps - 1 - bad
    through = "through the last step" if right == 1 else f"through the last {right} steps"
    through += " is right, but "
    if states or "x" in failed:
        return (
            f"backpropagating {through}from {where} on the gradients are wrong: one step "
            "alone is right, so steps are not chained correctly. At step t the gradient "
            "entering the step must be dh[:, t] + (what step t+1 sent back into h_t): check "
            "that the carried gradient is added (the recurrent term) and that it is the one "
            "step t+1 just computed"
        )
    return (
        f"backpropagating {through}from {where} on the parameter gradients "
        f"({', '.join(sorted(params))}) are wrong while every dh_t and dx is right: the "
        "weights are shared by all steps, so their gradients must be summed over t "
        "(dWh += ..., not dWh = ...)"
    )


_LABELS = {"h0": "dh[t-1]", "c0": "dc[t-1]", "x": "dx[t:]"}
"""Column labels: the states' gradients are those reaching h_{t-1} (c_{t-1})."""


def _as_text(report: BPTTReport) -> str:
    names = [array.name for array in report.rows[0].report.arrays]
    labels = ["t", *(_LABELS.get(name, "d" + name) for name in names)]
    table = [labels]
    for row in report.rows:
        cells = [str(row.t)]
        for array in row.report.arrays:
            mark = "" if array.passed else " FAIL"
            cells.append(f"{array.max_rel_error:.1e}{mark}")
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(labels))]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    n = report.n_steps
    rule = f"pass: max rel error <= {report.tolerance:.0e}"
    if report.passed:
        head = f"BPTT check passed at every step t = {n - 1}..0 ({rule})"
    else:
        head = (
            f"BPTT check FAILED: right through steps {n - 1}..{report.first_bad_step + 1} "
            f"(counting back from the end), wrong from step t = {report.first_bad_step} on "
            f"({rule})"
            if report.first_bad_step < n - 1
            else f"BPTT check FAILED from the last step t = {n - 1} on ({rule})"
        )
    lines = [
        head,
        "row t: steps t..T-1 run from the true h[t-1]; dh[t-1] is the gradient reaching h[t-1]"
        " (t = 0: h0), the parameters' gradients are summed over steps t..T-1",
        "",
        line(labels),
        "-+-".join("-" * w for w in widths),
        *(line(cells) for cells in table[1:]),
    ]
    if not report.passed:
        bad_row = report.rows[n - 1 - report.first_bad_step]
        lines += ["", f"hint: {report.hint}", "", f"details of row t = {bad_row.t}:"]
        lines += [f"  {text}" for text in str(bad_row.report).splitlines()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# The check


def check_bptt(
    model: Any,
    x: np.ndarray,
    h0: np.ndarray | tuple[np.ndarray, ...] | None = None,
    *,
    dh: np.ndarray | None = None,
    seed: int = 0,
    h: float = DEFAULT_STEP,
    tolerance: float | None = None,
) -> BPTTReport:
    """Check a recurrent backward step by step from the end; name the first step that fails.

    Parameters
    ----------
    model : layer, StepFunctions or SequenceFunctions
        What to check (see the module docstring); all in float64.
    x : np.ndarray
        Inputs, shape (N, T, D), float64.
    h0 : np.ndarray or tuple of np.ndarray, optional
        Initial state (N, H); for an LSTM layer a pair (h0, c0). Zeros when omitted (a layer
        only: functions need an explicit h0, since their H is not known).
    dh : np.ndarray, optional
        Upstream gradient dL/dh, shape (N, T, H); default standard normal drawn with
        ``seed``. The loss checked is L = sum(dh * h).
    seed : int, default 0
        Seeds the default dh.
    h : float, default 1e-5
        Finite-difference step.
    tolerance : float, optional
        Largest relative error that passes; default 1e-6.

    Returns
    -------
    BPTTReport
        One row per step; ``first_bad_step``, ``first_bad_dh`` and ``hint`` locate a bug.
        Print it for the table.

    Raises
    ------
    TypeError
        If an array is not float64, the model lacks what it needs, or its backward returns
        something else than documented.
    ValueError
        If x is not (N, T, D) with T >= 1, or dh has the wrong shape.
    """
    x = require_float64(x, "x")
    if x.ndim != 3 or x.shape[1] == 0:
        raise ValueError(f"check_bptt: x must have shape (N, T, D) with T >= 1, got {x.shape}")
    adapter = _as_model(model)
    start = _initial_state(adapter, x, h0)
    clash = set(adapter.params) & {"x", *adapter.state_names}
    if clash:
        raise ValueError(f"check_bptt: no parameter may be called {', '.join(sorted(clash))}")
    output = adapter.run(x, start)
    if dh is None:
        dh = np.random.default_rng(seed).standard_normal(np.shape(output))
    dh = require_float64(dh, "dh")
    if dh.shape != np.shape(output):
        raise ValueError(
            f"check_bptt: dh must have the shape of the output h {np.shape(output)}, "
            f"got {dh.shape}"
        )
    n_steps = x.shape[1]
    rows = [
        StepCheck(t, _check_suffix(adapter, x, dh, start, t, h, tolerance))
        for t in range(n_steps - 1, -1, -1)
    ]
    threshold = DEFAULT_TOLERANCE if tolerance is None else tolerance
    return BPTTReport(rows=rows, state_names=adapter.state_names, tolerance=threshold)


def _initial_state(
    model: _Model, x: np.ndarray, h0: np.ndarray | tuple[np.ndarray, ...] | None
) -> dict[str, np.ndarray]:
    """The initial state by name; zeros of the layer's state when h0 is None."""
    if isinstance(model, _LayerModel):
        zeros = model.zero_state(x)
        if h0 is None:
            return zeros
    elif h0 is None:
        raise ValueError("check_bptt: pass h0 (N, H): with functions, H is not known")
    parts = tuple(h0) if isinstance(h0, tuple) else (h0,)
    if len(parts) != len(model.state_names):
        raise ValueError(
            f"check_bptt: the model's state is {', '.join(model.state_names)}, but h0 has "
            f"{len(parts)} part{'s' if len(parts) > 1 else ''}"
        )
    return {
        name: require_float64(part, name)
        for name, part in zip(model.state_names, parts, strict=True)
    }


def _check_suffix(
    model: _Model,
    x: np.ndarray,
    dh: np.ndarray,
    start: dict[str, np.ndarray],
    t: int,
    h: float,
    tolerance: float | None,
) -> GradCheckReport:
    """check_gradients of steps t..T-1 run from the true state h_{t-1}, held fixed."""
    state = start if t == 0 else model.final_state(x[:, :t], start)
    inputs = {
        "x": x[:, t:].copy(),
        **{name: np.array(value, dtype=np.float64) for name, value in state.items()},
        **model.params,  # the model's own arrays: perturbing them perturbs the model
    }

    def forward(**arrays: np.ndarray) -> np.ndarray:
        return model.run(arrays["x"], {name: arrays[name] for name in model.state_names})

    def backward(upstream: np.ndarray) -> Mapping[str, Any]:
        return model.gradients(upstream)

    return check_gradients(
        forward, backward, inputs, dy=np.ascontiguousarray(dh[:, t:]), h=h, tolerance=tolerance
    )
