"""Command line of the benchmark: ``python -m benchmarks [--quick] [options]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks import CASE_MODULES
from benchmarks.core import (
    CLOCKS,
    TORCH_ABSENT,
    Settings,
    environment_lines,
    format_table,
    load_cases,
    load_torch,
    run_cases,
    summary_lines,
)

DTYPES = ("float32", "float64")


def _names(text: str, allowed: Sequence[str], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{what} must be a comma-separated list of {', '.join(allowed)}, got {text!r}"
        )
    return names


def _thread_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"threads must be a comma-separated list of positive integers, got {text!r}"
        )
    return counts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (``argv`` without the program name; None reads sys.argv)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time the kit's forward+backward against the naive loops and PyTorch CPU.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny shapes and repeats")
    parser.add_argument(
        "--cases",
        type=lambda text: _names(text, CASE_MODULES, "cases"),
        default=list(CASE_MODULES),
        help=f"case modules to run (default: {','.join(CASE_MODULES)})",
    )
    parser.add_argument(
        "--dtypes",
        type=lambda text: _names(text, DTYPES, "dtypes"),
        default=list(DTYPES),
        help="float32,float64 (default: both)",
    )
    parser.add_argument(
        "--threads", type=_thread_counts, default=[1, 2], help="thread counts (default: 1,2)"
    )
    parser.add_argument("--no-torch", action="store_true", help="skip torch even if installed")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time (default); cpu: CPU time of the calling thread, steadier on "
        "a busy machine but meaningful at 1 thread only",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the environment, the table and the summary.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        0: the benchmark reports, it does not fail on a missed target.
    """
    args = parse_args(argv)
    torch = None if args.no_torch else load_torch()
    settings = Settings.quick(args.clock) if args.quick else Settings(clock=args.clock)
    absent = "skipped (--no-torch)" if args.no_torch else TORCH_ABSENT
    print("\n".join(environment_lines(torch, absent)), flush=True)
    print(f"clock: {args.clock}; median of the timed calls of each step, after warm-up")
    if args.quick:
        print("quick run: tiny shapes, no targets judged")
    cases = load_cases(args.cases, quick=args.quick)
    rows = run_cases(
        cases,
        args.dtypes,
        args.threads,
        settings,
        torch,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print()
    print(format_table(rows))
    print()
    print("\n".join(summary_lines(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
