"""Instructor commands, run from the course repository's root.

    backprop-course grade ASSIGNMENT [--students a,b] [--workers N | --cluster ADDRESS]
        [--timeout-per-notebook S] [--memory-limit-gb G] [--db-url URL]
        [--report out.csv] [--force] [--no-feedback] [--no-sandbox] [--no-progress]
    backprop-course check ASSIGNMENT [--no-sandbox]

``grade`` autogrades every submission in ``submitted/*/ASSIGNMENT`` with nbgrader (each student
in its own process, N at a time on this machine, or one Dask task each on a cluster with
``--cluster tcp://HOST:PORT`` or ``--cluster local:N``), scores a run that crashed or timed out
0, flags suspicious code, then prints a per-exercise table and optionally writes it as CSV, with
a picture of the class beside it (PNG and HTML). A student whose submission is unchanged since
it was graded into this gradebook is not graded again, unless ``--force``. Every notebook runs
in a bubblewrap sandbox (see backprop_course/sandbox.py); when it cannot be created, nothing is
graded and the error says how to fix it. ``--no-sandbox`` grades without any isolation: only for
trusted notebooks. ``--no-feedback`` grades only (``nbgrader generate_feedback`` makes the
feedback later, e.g. after manual grading). ``check`` grades the
reference solution and the blank release in a temporary course: a pre-release sanity check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Before nbformat is imported. jsonschema (nbformat's validator) imports the optional
# rfc3987_syntax, when installed, to check the "iri" string formats, and that builds Lark parsers:
# about 1 s of every command's start, more than a third of it (python-jsonschema/jsonschema#1428).
# No schema of nbformat, nbgrader or the Jupyter packages has an "iri" format. Here, as where
# jsonschema is installed without that extra, the import fails and jsonschema leaves those two
# formats unchecked. It holds for the processes that run this module (the command's, and the
# grading processes it forks); importing the package alone (``import backprop_course``) changes
# nothing.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from backprop_course.coordinator import (
    DEFAULT_MEMORY_BYTES,
    DEFAULT_NOTEBOOK_SECONDS,
    grade_class,
)
from backprop_course.course import Course, course_config
from backprop_course.release_check import check_release, release_problems
from backprop_course.report_pictures import write_pictures
from backprop_course.sandbox import SandboxUnavailable
from backprop_course.worker import GradingSetupError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backprop-course",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="autograde a class and report per exercise")
    check = commands.add_parser("check", help="grade the reference solution and the blank "
                                "release in a temporary course")
    for command in (grade, check):
        command.add_argument("assignment")
        command.add_argument("--course-dir", type=Path, default=Path("."),
                             help="the folder holding nbgrader_config.py (default: .)")
        command.add_argument("--workers", type=_positive_int, default=1,
                             help="students graded at the same time (default 1)")
        command.add_argument("--timeout-per-notebook", type=float,
                             default=DEFAULT_NOTEBOOK_SECONDS, metavar="S",
                             help="wall-clock seconds per notebook; a run over it is killed "
                                  f"and scores 0 (default {DEFAULT_NOTEBOOK_SECONDS:g})")
        command.add_argument("--memory-limit-gb", type=float,
                             default=DEFAULT_MEMORY_BYTES / 2**30, metavar="G",
                             help="address-space cap per worker and its kernel (default "
                                  f"{DEFAULT_MEMORY_BYTES / 2**30:g})")
        command.add_argument("--no-sandbox", action="store_true",
                             help="run student code WITHOUT the bubblewrap sandbox, as this "
                                  "user with this user's files (trusted notebooks only)")
    grade.add_argument("--students", type=lambda text: [s for s in text.split(",") if s],
                       help="comma-separated student ids (default: every submission)")
    grade.add_argument("--db-url", help="SQLAlchemy URL of the gradebook, e.g. "
                                        "postgresql://user@host/db (default: gradebook.db)")
    grade.add_argument("--cluster", metavar="ADDRESS",
                       help="grade on Dask: a scheduler address (tcp://HOST:PORT) or local:N "
                            "(N single-threaded worker processes here); see "
                            "docs/instructors/cluster.md")
    grade.add_argument("--report", type=Path, metavar="CSV",
                       help="also write the table here, and beside it a picture of the class "
                            "(CSV name with .png and .html)")
    grade.add_argument("--force", action="store_true",
                       help="grade again students whose submission is unchanged since they "
                            "were graded, and replace an existing --report file")
    grade.add_argument("--no-feedback", action="store_true",
                       help="grade only, no feedback HTML (a regraded student's earlier "
                            "feedback is removed); make it later with `nbgrader "
                            "generate_feedback`, e.g. after manual grading")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit status (0 ok, 1 a failed check, 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "cluster", None) is not None and args.workers != 1:
        parser.error("--workers is for grading on this machine; with --cluster the Dask "
                     "workers grade (--cluster local:N for N of them here)")
    limits = {"workers": args.workers, "timeout_per_notebook": args.timeout_per_notebook,
              "memory_bytes": int(args.memory_limit_gb * 2**30), "sandbox": not args.no_sandbox}
    try:
        if args.command == "check":
            report = check_release(args.course_dir, args.assignment, **limits)
            print(report.format_text())
            problems = release_problems(report)
            print("\n".join(problems) if problems else f"{args.assignment}: release OK")
            return 1 if problems else 0
        if args.report is not None and args.report.exists() and not args.force:
            raise FileExistsError(f"{args.report} exists; pass --force to replace it")
        course = Course(args.course_dir.resolve(), course_config(
            args.course_dir.resolve(), db_url=args.db_url))
        report = grade_class(course, args.assignment, students=args.students,
                             progress=not args.no_progress, cluster=args.cluster,
                             skip_graded=not args.force, feedback=not args.no_feedback,
                             **limits)
    except (FileNotFoundError, FileExistsError, LookupError, ValueError, OSError,
            SandboxUnavailable, GradingSetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.format_text())
    if args.report is not None:
        report.write_csv(args.report)
        png, html = write_pictures(report, args.report)
        print(f"report written to {args.report}; the class at a glance: {html} ({png})")
    if any(row.status == "error" for row in report.rows):
        print("some students could not be graded (status error, nothing recorded): run the "
              "same command again to grade them", file=sys.stderr)
        return 1
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
