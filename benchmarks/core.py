"""The benchmark's machinery: cases, side-by-side timing, thread control and the printed table.

A :class:`Case` describes one computation (e.g. a Conv2D forward+backward on one shape) as up
to three *builders*, one per implementation: the kit, the naive loop references, PyTorch. A
builder does all the setup for one dtype (data, layers, buffers) and returns a *step*, a
function of no arguments that runs the computation once; only steps are timed.

:func:`run_cases` times every case for every dtype and thread count with :func:`measure`, which
runs the implementations of a case side by side (round-robin), so that the load other
processes put on the machine hits all of them alike and their ratio stays meaningful even when
the absolute times drift. Each step is warmed up first (the first calls pay page faults and
thread start-up), and every timed call follows an untimed call of the same step, so that one
library's threads spinning down, or its data filling the caches, do not slow the next
library's timed call (steps of about a second, the naive loops, are not run twice). A time is
the median of the timed calls.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

__all__ = [
    "CLOCKS",
    "COLUMNS",
    "IMPLEMENTATIONS",
    "TORCH_ABSENT",
    "Case",
    "Row",
    "Settings",
    "Step",
    "autograd_step",
    "environment_lines",
    "format_table",
    "layer_step",
    "load_cases",
    "load_torch",
    "measure",
    "run_cases",
    "summary_lines",
    "thread_limit",
]

Step = Callable[[], object]
"""One run of the computation being timed (a forward and a backward, a training step)."""


def layer_step(layer: Any, x: np.ndarray, dy: np.ndarray) -> Step:
    """The step of one kit layer: ``layer.forward(x)``, then ``layer.backward(dy)``."""

    def step() -> None:
        layer.forward(x)
        layer.backward(dy)

    return step


def autograd_step(
    torch: ModuleType, forward: Callable[[], Any], inputs: Sequence[Any], dy: Any
) -> Step:
    """The step of a torch computation: ``forward()``, then the gradients of ``inputs``.

    Parameters
    ----------
    torch : module
        PyTorch.
    forward : callable
        Computes the output tensor from tensors it closes over.
    inputs : sequence of tensors
        Those whose gradients are computed (they require grad).
    dy : tensor
        The upstream gradient, the output's shape.
    """

    def step() -> None:
        torch.autograd.grad(forward(), inputs, dy)

    return step


IMPLEMENTATIONS = ("kit", "naive", "torch")
"""The implementations a case can have, in the order of the table's columns."""

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}
"""The clocks a measurement can use (see :class:`Settings`)."""


@dataclass(frozen=True)
class Case:
    """One benchmarked computation and its implementations.

    Attributes
    ----------
    name : str
        Row label, e.g. ``"conv (a) N64 C1 28x28 F16 3x3 p1"``.
    kit : callable
        ``kit(dtype) -> step``: sets up the kit's version for a numpy dtype (np.float32 or
        np.float64) and returns the step to time.
    naive : callable, optional
        ``naive(dtype) -> step``: the same computation with the naive loop references
        (``backprop_kit.layers.naive``); use a small shape, the loops are slow.
    torch : callable, optional
        ``torch(torch_module, dtype) -> step``: the same computation in PyTorch, same shapes and
        dtype (``torch_module`` is the imported ``torch``; case modules never import it
        themselves, so the benchmark runs without it). Skipped when torch is not installed.
    torch_targets : mapping of str to float
        By dtype name (``"float32"``): the largest kit/torch time ratio that meets the target,
        at 1 thread. A dtype without an entry has no target.
    min_speedup : float, optional
        The smallest naive/kit time ratio that meets the target.
    dtypes : tuple of str, optional
        Run only these dtypes (of those asked for); None runs them all.
    threads : tuple of int, optional
        Run only these thread counts (of those asked for); None runs them all. The naive
        loops are single-threaded Python, so their cases use ``threads=(1,)``.
    slow : bool, default False
        A step takes around a second (the naive loops): measure with :meth:`Settings.slow`.
    """

    name: str
    kit: Callable[[np.dtype], Step]
    naive: Callable[[np.dtype], Step] | None = None
    torch: Callable[[ModuleType, np.dtype], Step] | None = None
    torch_targets: Mapping[str, float] = field(default_factory=dict)
    min_speedup: float | None = None
    dtypes: tuple[str, ...] | None = None
    threads: tuple[int, ...] | None = None
    slow: bool = False


@dataclass(frozen=True)
class Settings:
    """How long to measure.

    Attributes
    ----------
    warmup : int
        Untimed calls of each step before timing starts.
    min_repeats, max_repeats : int
        Rounds (in each, every step is timed in turn): at least ``min_repeats``, then more
        until ``budget_s`` seconds have passed or ``max_repeats`` is reached.
    budget_s : float
        Wall-clock seconds after which one measurement stops adding repeats.
    settle_below_s : float
        Precede every timed call of a step by an untimed call of the same step, if the
        step's last warm-up call took less than this many seconds (infinity: always). The
        untimed call settles thread pools and caches after another implementation's call; a
        step of about a second needs no settling, and running it twice would double the time
        of the whole measurement.
    max_calls_per_round : int
        Timed calls of a step per round, at most: a step is called about as many times as it
        takes to last as long as the slowest step's call (by the warm-up calls), up to this
        many. With 1, every step is timed once per round. More calls let a quick step that
        is measured beside a slow one (the kit beside the naive loops) take its median from
        many calls spread over the same minutes, not from as few calls as the slow one.
    clock : {"wall", "cpu"}
        What a time is: ``"wall"``, elapsed wall-clock time (``time.perf_counter``), what a
        user waits for; ``"cpu"``, the CPU time of the calling thread (``time.thread_time``),
        which leaves out the time spent waiting for a core, so that 1-thread ratios stay
        steady on a shared, overloaded machine. At 1 thread numpy's BLAS and torch do all the
        work on the calling thread; with more threads this clock misses the helper threads'
        work, so use it at 1 thread only.
    """

    warmup: int = 3
    min_repeats: int = 7
    max_repeats: int = 31
    budget_s: float = 2.0
    settle_below_s: float = math.inf
    max_calls_per_round: int = 1
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ValueError(f"Settings: clock must be one of {sorted(CLOCKS)}, got {self.clock!r}")

    @classmethod
    def quick(cls, clock: str = "wall") -> Settings:
        """Tiny settings for a smoke test: one warm-up call and three timed calls."""
        return cls(warmup=1, min_repeats=3, max_repeats=3, budget_s=0.0, clock=clock)

    def slow(self) -> Settings:
        """For cases with a step of about a second: at most one warm-up call, at least three
        rounds (more within the budget), settling calls only before steps faster than 0.1 s,
        and up to 25 timed calls of the quick steps per round."""
        return Settings(
            warmup=min(self.warmup, 1),
            min_repeats=min(self.min_repeats, 3),
            max_repeats=self.max_repeats,
            budget_s=self.budget_s,
            settle_below_s=0.1,
            max_calls_per_round=25,
            clock=self.clock,
        )


@dataclass(frozen=True)
class Row:
    """One line of the table: a case at one dtype and thread count.

    Attributes
    ----------
    case : Case
        The case measured.
    dtype : str
        ``"float32"`` or ``"float64"``.
    threads : int
        Thread count for numpy's BLAS and for torch.
    seconds : dict of str to float
        Median seconds per step, by implementation (only those that ran).
    repeats : int
        Timed calls per implementation.
    """

    case: Case
    dtype: str
    threads: int
    seconds: dict[str, float]
    repeats: int

    @property
    def torch_ratio(self) -> float | None:
        """kit time / torch time, or None without a torch time."""
        if "torch" not in self.seconds:
            return None
        return self.seconds["kit"] / self.seconds["torch"]

    @property
    def speedup(self) -> float | None:
        """naive time / kit time, or None without a naive time."""
        if "naive" not in self.seconds:
            return None
        return self.seconds["naive"] / self.seconds["kit"]

    @property
    def torch_target(self) -> float | None:
        """The kit/torch target that applies to this row (1 thread only), or None."""
        return self.case.torch_targets.get(self.dtype) if self.threads == 1 else None

    def verdicts(self) -> list[tuple[str, bool]]:
        """``(description, met)`` for every target this row can be judged on."""
        found = []
        target, ratio = self.torch_target, self.torch_ratio
        if target is not None and ratio is not None:
            found.append((f"kit/torch {ratio:.2f} <= {target:g}", ratio <= target))
        least, speedup = self.case.min_speedup, self.speedup
        if least is not None and speedup is not None:
            found.append((f"naive/kit {speedup:.0f} >= {least:g}", speedup >= least))
        return found


def load_torch() -> ModuleType | None:
    """Return the ``torch`` module, or None if it is not installed."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def load_cases(module_names: Sequence[str], quick: bool) -> list[Case]:
    """Import ``benchmarks.<name>`` for each name and collect its ``cases(quick)``.

    Parameters
    ----------
    module_names : sequence of str
        Case modules, e.g. ``("conv", "pool")``.
    quick : bool
        Passed to each module's ``cases``: tiny shapes for a smoke test.

    Returns
    -------
    list of Case
        In module order, then in each module's order.
    """
    found: list[Case] = []
    for name in module_names:
        module = importlib.import_module(f"benchmarks.{name}")
        found.extend(module.cases(quick))
    return found


@contextlib.contextmanager
def thread_limit(threads: int, torch: ModuleType | None) -> Iterator[None]:
    """Limit numpy's BLAS (through threadpoolctl) and torch to ``threads`` threads.

    Parameters
    ----------
    threads : int
        Thread count, >= 1.
    torch : module or None
        The torch module, whose intra-op thread count is set too and restored afterwards.
    """
    with threadpool_limits(limits=threads):
        if torch is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _timed(step: Step, clock: Callable[[], float], settle: bool, calls: int = 1) -> list[float]:
    """Seconds of each of ``calls`` back-to-back timed calls of ``step``."""
    if settle:
        step()  # untimed: settles thread pools and caches after another library's call
    seconds = []
    for _ in range(calls):
        start = clock()
        step()
        seconds.append(clock() - start)
    return seconds


def measure(steps: Mapping[str, Step], settings: Settings) -> tuple[dict[str, float], int]:
    """Time several steps side by side and return each one's median.

    Parameters
    ----------
    steps : mapping of str to step
        The implementations of one computation, by name.
    settings : Settings
        Warm-up calls, settling, rounds and calls per round.

    Returns
    -------
    medians : dict of str to float
        Median seconds per call, by name, over all of its timed calls.
    repeats : int
        Rounds run.
    """
    clock = CLOCKS[settings.clock]
    warm = {name: 0.0 for name in steps}  # seconds of each step's last warm-up call
    for name, step in steps.items():
        for _ in range(settings.warmup):
            warm[name] = _timed(step, clock, settle=False)[0]
    settle = {name: seconds < settings.settle_below_s for name, seconds in warm.items()}
    slowest = max(warm.values())
    calls = {
        name: max(1, min(settings.max_calls_per_round, int(slowest / max(seconds, 1e-9))))
        for name, seconds in warm.items()
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    start = time.perf_counter()
    rounds = 0
    while rounds < settings.max_repeats:
        for name, step in steps.items():
            times[name] += _timed(step, clock, settle[name], calls[name])
        rounds += 1
        if rounds >= settings.min_repeats and time.perf_counter() - start > settings.budget_s:
            break
    medians = {name: statistics.median(values) for name, values in times.items()}
    return medians, rounds


def run_cases(
    cases: Sequence[Case],
    dtypes: Sequence[str],
    threads: Sequence[int],
    settings: Settings,
    torch: ModuleType | None,
    progress: Callable[[str], Any] | None = None,
) -> list[Row]:
    """Measure every case at every dtype and thread count it applies to.

    Parameters
    ----------
    cases : sequence of Case
    dtypes : sequence of str
        ``"float32"`` and/or ``"float64"``.
    threads : sequence of int
        Thread counts, e.g. ``(1, 2)``.
    settings : Settings
    torch : module or None
        PyTorch, or None to skip the torch implementations.
    progress : callable, optional
        Called with a short line before each measurement.

    Returns
    -------
    list of Row
        Case by case; within a case, dtype by dtype, thread count by thread count.
    """
    rows = []
    for case in cases:
        for dtype_name in dtypes:
            if case.dtypes is not None and dtype_name not in case.dtypes:
                continue
            dtype = np.dtype(dtype_name)
            steps = {"kit": case.kit(dtype)}
            if case.naive is not None:
                steps["naive"] = case.naive(dtype)
            if case.torch is not None and torch is not None:
                steps["torch"] = case.torch(torch, dtype)
            for count in threads:
                if case.threads is not None and count not in case.threads:
                    continue
                if progress is not None:
                    progress(f"measuring {case.name}, {dtype_name}, {count} thread(s)")
                with thread_limit(count, torch):
                    seconds, repeats = measure(steps, settings.slow() if case.slow else settings)
                rows.append(Row(case, dtype_name, count, seconds, repeats))
    return rows


COLUMNS = ("case", "dtype", "thr", "kit ms", "naive ms", "torch ms", "kit/torch", "target",
           "naive/kit", "met")
"""The table's column headers."""


def _cells(row: Row) -> list[str]:
    def ms(name: str) -> str:
        return f"{row.seconds[name] * 1e3:.3f}" if name in row.seconds else "-"

    verdicts = row.verdicts()
    met = "-" if not verdicts else ("yes" if all(ok for _, ok in verdicts) else "NO")
    target = [f"<={row.torch_target:g}" if row.torch_target is not None else ""]
    if row.case.min_speedup is not None:
        target.append(f">={row.case.min_speedup:g}")
    return [
        row.case.name,
        row.dtype,
        str(row.threads),
        ms("kit"),
        ms("naive"),
        ms("torch"),
        f"{row.torch_ratio:.2f}" if row.torch_ratio is not None else "-",
        " ".join(t for t in target if t) or "-",
        f"{row.speedup:.0f}" if row.speedup is not None else "-",
        met,
    ]


def format_table(rows: Sequence[Row]) -> str:
    """Render rows as a fixed-width text table with the :data:`COLUMNS` headers.

    Parameters
    ----------
    rows : sequence of Row

    Returns
    -------
    str
        Header, a rule, one line per row; numbers right-aligned.
    """
    body = [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in [list(COLUMNS), *body]) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        parts += [cell.rjust(width) for cell, width in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(COLUMNS), rule, *(line(cells) for cells in body)])


def summary_lines(rows: Sequence[Row]) -> list[str]:
    """One line counting the targets met, then one line per missed target.

    Parameters
    ----------
    rows : sequence of Row

    Returns
    -------
    list of str
    """
    judged = [(row, text, ok) for row in rows for text, ok in row.verdicts()]
    lines = [f"targets met: {sum(ok for _, _, ok in judged)} of {len(judged)}"]
    lines += [
        f"  missed: {row.case.name}, {row.dtype}, {row.threads} thread(s): {text}"
        for row, text, ok in judged
        if not ok
    ]
    return lines


TORCH_ABSENT = "not installed, torch columns skipped (pip install torch==2.13.0 to compare)"
"""The environment line's note when torch cannot be imported."""


def environment_lines(torch: ModuleType | None, torch_absent: str = TORCH_ABSENT) -> list[str]:
    """Describe what the numbers depend on: versions, BLAS, CPU, relevant environment variables.

    Parameters
    ----------
    torch : module or None
    torch_absent : str
        What to say about torch when ``torch`` is None.

    Returns
    -------
    list of str
    """
    blas = [
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture', '?')})"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    lines = [
        f"numpy {np.__version__}, BLAS: {', '.join(blas) or 'unknown'}; "
        f"python {platform.python_version()}; {os.cpu_count()} CPU(s)",
        "torch: "
        + (
            f"{torch.__version__}, {torch.get_num_threads()} thread(s) by default"
            if torch is not None
            else torch_absent
        ),
    ]
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "GLIBC_TUNABLES"):
        lines.append(f"{variable}={os.environ.get(variable, '(unset)')}")
    return lines
