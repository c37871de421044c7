"""The tiny assignment (tests/tiny_assignment.py) through the instructor's commands: its
reference solution earns every point, its blank release none."""

from __future__ import annotations

import re

from tiny_assignment import ASSIGNMENT, reference, tiny_course, write_course_source

from backprop_course import submit_notebook
from backprop_course.__main__ import main


def test_check_command_passes_the_tiny_assignment(tmp_path, capsys):
    write_course_source(tmp_path)
    status = main(["check", ASSIGNMENT, "--course-dir", str(tmp_path), "--workers", "2"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "tiny: release OK" in out
    assert re.search(r"^reference\s+graded\s+2\s+3\s+5\s+5$", out, re.MULTILINE), out
    assert re.search(r"^blank\s+graded\s+0\s+0\s+0\s+5$", out, re.MULTILINE), out
    assert not (tmp_path / "gradebook.db").exists(), "check must work in a temporary course"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nbgrader_config.py", "solutions"]


def test_grade_command_prints_and_writes_the_report(tmp_path, capsys):
    course = tiny_course(tmp_path / "course")
    submit_notebook(course.path("submitted", ASSIGNMENT, "ada"), reference(course), ASSIGNMENT)
    report = tmp_path / "grades.csv"
    status = main(["grade", ASSIGNMENT, "--course-dir", str(course.root), "--workers", "2",
                   "--timeout-per-notebook", "60", "--report", str(report), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert re.search(r"^ada\s+graded\s+2\s+3\s+5\s+5$", out, re.MULTILINE), out
    assert report.read_text().splitlines()[1] == "ada,graded,2,3,5,5,,"
    assert course.total_score(ASSIGNMENT, "ada") == (5.0, 5.0)
