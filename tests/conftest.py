"""Shared fixtures: the repository's paths and temporary nbgrader courses built from it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:  # the instructor's package needs nbgrader; the kit's tests do not
    from backprop_course import Course

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
RELEASE = REPO / "notebooks"
# Folders of solutions/ holding a notebook of their own name (as nbgrader lays them out). Found
# here rather than with backprop_course, so that the kit's tests run without nbgrader installed.
ASSIGNMENTS = sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb")
                     if p.stem == p.parent.name)
# Test files whose tests are parametrized by assignment and may run on different workers.
SPLIT_BY_ASSIGNMENT = {"tests/notebooks/test_nbgrader_pipeline.py",
                       "tests/notebooks/test_mistakes.py"}

# One BLAS thread for the tests and for every kernel they start: the matrices here are small,
# and with one pytest-xdist worker per core, two threads per worker fight over the cores (a
# small product was 40x slower that way here).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
threadpool_limits(1)  # this process has imported numpy already


def pytest_configure(config):
    """nbgrader's gradebook (SQLAlchemy) warns about its own relationships; where it is
    installed, silence exactly that warning (the kit's tests run without it)."""
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        return
    config.addinivalue_line("filterwarnings", "ignore:Object of type:sqlalchemy.exc.SAWarning")


@pytest.fixture(scope="session")
def make_course(tmp_path_factory) -> Callable[..., Course]:
    """Factory: a fresh course directory holding copies of the named source assignments."""
    from backprop_course import Course, course_config

    def make(*assignments: str, db_url: str | None = None) -> Course:
        root = tmp_path_factory.mktemp("course")
        for name in assignments:
            shutil.copytree(SOLUTIONS / name, root / "solutions" / name)
        return Course(root, course_config(root, config_dir=REPO, db_url=db_url))

    return make



def pytest_xdist_make_scheduler(config, log):
    """Run whole files (and whole notebooks) on one pytest-xdist worker, one assignment apart.

    The suite runs with ``-n auto``. Each test file shares module fixtures (a graded course is
    built once per file) and nbval must run a notebook's cells in order in one kernel, so the
    unit of work is a file, as with ``--dist loadscope``; the pipeline test is split further
    into one unit per assignment, so that the assignments are graded in parallel.
    """
    from xdist.scheduler import LoadScopeScheduling

    class OneUnitPerFileAndAssignment(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope not in SPLIT_BY_ASSIGNMENT:
                return scope
            test_ids = nodeid.rpartition("[")[2].rstrip("]").split("-")
            return f"{scope}::{next((a for a in ASSIGNMENTS if a in test_ids), '')}"

    return OneUnitPerFileAndAssignment(config, log)
