"""Shared fixtures: the repository's paths and temporary nbgrader courses built from it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from backprop_kit.instructor import Course, course_config, list_assignments

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
RELEASE = REPO / "notebooks"
ASSIGNMENTS = list_assignments(SOLUTIONS)


@pytest.fixture(scope="session")
def make_course(tmp_path_factory) -> Callable[..., Course]:
    """Factory: a fresh course directory holding copies of the named source assignments."""

    def make(*assignments: str, db_url: str | None = None) -> Course:
        root = tmp_path_factory.mktemp("course")
        for name in assignments:
            shutil.copytree(SOLUTIONS / name, root / "solutions" / name)
        return Course(root, course_config(root, config_dir=REPO, db_url=db_url))

    return make
