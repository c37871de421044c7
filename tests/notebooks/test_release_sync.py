"""notebooks/ must be exactly what nbgrader generates from solutions/ (the only edited copy)."""

import json

import pytest
from conftest import ASSIGNMENTS, RELEASE, SOLUTIONS


def test_every_source_assignment_has_a_release_and_vice_versa():
    released = sorted(p.name for p in RELEASE.iterdir() if p.is_dir()) if RELEASE.exists() else []
    assert released == ASSIGNMENTS, (
        f"solutions/ has {ASSIGNMENTS} but notebooks/ has {released}: run "
        "`nbgrader generate_assignment <name> --force` from the repository root")


def test_there_is_at_least_one_assignment():
    assert ASSIGNMENTS, f"no assignment notebooks found in {SOLUTIONS}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_equals_freshly_generated(make_course, assignment):
    course = make_course(assignment)
    course.generate(assignment)
    fresh_dir = course.path("release", assignment)
    for fresh in sorted(fresh_dir.glob("*.ipynb")):
        committed = RELEASE / assignment / fresh.name
        assert committed.is_file(), f"{committed} is missing: regenerate the release"
        assert json.loads(committed.read_text()) == json.loads(fresh.read_text()), (
            f"{committed} differs from what nbgrader generates from solutions/{assignment}: "
            f"run `nbgrader generate_assignment {assignment} --force` from the repository root")
