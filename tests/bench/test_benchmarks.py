"""The benchmark runs and prints its table; its bookkeeping is right. No timing is asserted."""

import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import REPO
from threadpoolctl import threadpool_info

from benchmarks import CASE_MODULES
from benchmarks.__main__ import main, parse_args
from benchmarks.core import (
    COLUMNS,
    Case,
    Row,
    Settings,
    format_table,
    load_cases,
    measure,
    summary_lines,
    thread_limit,
)


def test_bench_command_runs_a_tiny_case_and_prints_the_table():
    command = [sys.executable, "-m", "benchmarks", "--quick", "--cases", "pool",
               "--threads", "1", "--dtypes", "float64", "--no-torch"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "torch: skipped (--no-torch)" in lines
    header = next(line for line in lines if line.startswith("case"))
    assert header.split() == " ".join(COLUMNS).split()
    rows = [line for line in lines if line.startswith("maxpool")]
    assert len(rows) == 2  # against torch (its columns empty here), and against the loops
    assert all("float64" in row for row in rows)
    assert rows[0].split()[-6] == "-"  # torch ms
    assert float(rows[1].split()[-6]) > 0  # naive ms
    assert "targets met: 0 of 0" in lines


def test_every_case_module_builds_steps_that_run_in_both_dtypes():
    cases = load_cases(CASE_MODULES, quick=True)
    assert {case.name.split()[0] for case in cases} >= {"conv", "maxpool", "MLP"}
    for case in cases:
        for dtype in (np.float32, np.float64):
            if case.dtypes is None or np.dtype(dtype).name in case.dtypes:
                case.kit(np.dtype(dtype))()
                if case.naive is not None:
                    case.naive(np.dtype(dtype))()


def test_measure_warms_up_settles_and_reports_one_median_per_step():
    calls = {"a": 0, "b": 0}

    def counter(name):
        def step():
            calls[name] += 1
        return step

    settings = Settings(warmup=2, min_repeats=4, max_repeats=9, budget_s=0.0)
    medians, repeats = measure({"a": counter("a"), "b": counter("b")}, settings)
    assert repeats == 4 and set(medians) == {"a", "b"}
    assert calls == {"a": 2 + 4 * 2, "b": 2 + 4 * 2}  # warm-up, then settling + timed calls


def test_measure_beside_a_slow_step_settles_and_repeats_only_the_quick_one():
    calls = {"quick": 0, "slow": 0}

    def quick():
        calls["quick"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.02)

    # slow(): one warm-up call, three rounds when the budget is spent; the limits are
    # scaled down so that a 20 ms step counts as slow.
    settings = replace(Settings(budget_s=0.0).slow(), settle_below_s=0.01, max_calls_per_round=5)
    medians, rounds = measure({"quick": quick, "slow": slow}, settings)
    assert rounds == 3
    # quick: settled, then timed 5 times per round (20 ms / its time, capped at 5);
    # slow: neither settled nor repeated.
    assert calls == {"quick": 1 + 3 * (1 + 5), "slow": 1 + 3}
    assert medians["slow"] >= 0.02 > medians["quick"]


def _row(threads, seconds, **case_fields):
    case = Case(name="demo", kit=lambda dtype: (lambda: None), **case_fields)
    return Row(case, "float32", threads, seconds, repeats=5)


def test_targets_are_judged_at_one_thread_only_and_summarised():
    targets = {"float32": 0.9}
    fast = _row(1, {"kit": 0.5e-3, "torch": 1e-3}, torch_targets=targets)
    slow = _row(1, {"kit": 2e-3, "torch": 1e-3}, torch_targets=targets)
    two_threads = _row(2, {"kit": 2e-3, "torch": 1e-3}, torch_targets=targets)
    loops = _row(1, {"kit": 1e-3, "naive": 0.3}, min_speedup=200)
    assert fast.verdicts() == [("kit/torch 0.50 <= 0.9", True)]
    assert slow.verdicts() == [("kit/torch 2.00 <= 0.9", False)]
    assert two_threads.verdicts() == []
    assert loops.verdicts() == [("naive/kit 300 >= 200", True)]
    table = format_table([fast, slow, two_threads, loops]).splitlines()
    assert table[0].split() == " ".join(COLUMNS).split()
    assert table[2].split() == ["demo", "float32", "1", "0.500", "-", "1.000", "0.50", "<=0.9",
                                "-", "yes"]
    assert table[3].split()[-1] == "NO"
    assert table[4].split()[-1] == "-"
    assert table[5].split()[-2:] == ["300", "yes"]
    summary = summary_lines([fast, slow, two_threads, loops])
    assert summary[0] == "targets met: 2 of 3"
    assert summary[1:] == ["  missed: demo, float32, 1 thread(s): kit/torch 2.00 <= 0.9"]


def test_thread_limit_sets_the_blas_thread_count_inside_only():
    before = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    with thread_limit(1, torch=None):
        inside = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    after = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    assert inside and set(inside) == {1}
    assert after == before


def test_command_line_rejects_unknown_names_and_bad_thread_counts(capsys):
    assert parse_args(["--cases", "conv,pool", "--threads", "1"]).cases == ["conv", "pool"]
    bad = (["--cases", "lstm"], ["--threads", "0"], ["--dtypes", "float16"], ["--clock", "gpu"])
    for argv in bad:
        with pytest.raises(SystemExit):
            parse_args(argv)
    assert "must be a comma-separated list" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"clock must be one of \['cpu', 'wall'\], got 'gpu'"):
        Settings(clock="gpu")


def test_main_in_process_prints_environment_and_rows(capsys):
    assert main(["--quick", "--cases", "mlp", "--threads", "1", "--dtypes", "float32",
                 "--no-torch", "--clock", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("numpy ")
    assert "clock: cpu; median of the timed calls of each step, after warm-up" in out
    assert "quick run: tiny shapes, no targets judged" in out
    assert any(line.startswith("MLP step 8-6-3 N4") for line in out.splitlines())
