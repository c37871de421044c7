"""The tiny assignment (tests/tiny_assignment.py) through the instructor's commands: its
reference solution earns every point, its blank release none."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from tiny_assignment import (
    ASSIGNMENT,
    HIDDEN_CODE,
    reference,
    released,
    tiny_course,
    write_course_source,
)

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


def test_grade_command_without_feedback_grades_and_leaves_no_stale_feedback(tmp_path, capsys):
    course = tiny_course(tmp_path / "course")
    submit_notebook(course.path("submitted", ASSIGNMENT, "ada"), reference(course), ASSIGNMENT)
    grade = ["grade", ASSIGNMENT, "--course-dir", str(course.root), "--no-progress",
             "--timeout-per-notebook", "60"]
    feedback = course.path("feedback", ASSIGNMENT, "ada")
    assert main(grade) == 0, capsys.readouterr()
    assert [path.name for path in feedback.iterdir()] == [f"{ASSIGNMENT}.html"]

    # Ada resubmits a blank notebook: the earlier feedback (full marks) must not survive.
    submit_notebook(course.path("submitted", ASSIGNMENT, "ada"), released(course), ASSIGNMENT)
    assert main([*grade, "--no-feedback"]) == 0, capsys.readouterr()
    assert course.total_score(ASSIGNMENT, "ada") == (0.0, 5.0)
    assert not feedback.exists(), "stale feedback of the earlier run was left in feedback/"

    # Made later by nbgrader, with the course's configuration: hidden code stays hidden.
    course.feedback(ASSIGNMENT, "ada")
    html = (feedback / f"{ASSIGNMENT}.html").read_text()
    assert "Score: 0.0 / 5.0" in html and "NotImplementedError" in html
    assert HIDDEN_CODE not in html


#: Run in a new Python: what a process has imported, for the checks below.
IMPORTS_PROBE = """
import importlib.util, json, sys
{imports}
import nbformat
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
nbformat.validate(notebook)
notebook.cells[0]["outputs"] = "not a list"
try:
    nbformat.validate(notebook)
    rejected = False
except nbformat.ValidationError:
    rejected = True
print(json.dumps({{"rfc3987_syntax": repr(sys.modules.get("rfc3987_syntax", "absent"))[:16],
                  "installed": importlib.util.find_spec("rfc3987_syntax") is not None,
                  "rejected": rejected}}))
"""


def _probe(imports: str) -> dict:
    run = subprocess.run([sys.executable, "-c", IMPORTS_PROBE.format(imports=imports)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_command_starts_without_jsonschemas_iri_parsers_and_still_validates_notebooks():
    """jsonschema imports rfc3987_syntax (its Lark parsers take about a second) only to check
    "iri" formats, which no notebook schema has: the command keeps it out, and nbformat still
    accepts a valid notebook and rejects a malformed one."""
    seen = _probe("import backprop_course.__main__")
    assert seen == {"rfc3987_syntax": "None", "installed": seen["installed"], "rejected": True}


def test_importing_the_package_alone_changes_no_other_library():
    """``import backprop_course`` (what an instructor's script or a Jupyter server loading the
    course's configuration does) imports nothing heavy and leaves jsonschema's optional
    dependency alone."""
    heavy = "{'nbformat', 'nbgrader', 'jsonschema', 'numpy'}"
    run = subprocess.run([sys.executable, "-c", "import sys, backprop_course; "
                          f"print(sorted({heavy} & set(sys.modules)))"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    seen = _probe("import backprop_course")
    expected = "<module 'rfc3987" if seen["installed"] else "'absent'"
    assert seen == {"rfc3987_syntax": expected, "installed": seen["installed"], "rejected": True}


def test_the_package_exports_its_api_on_first_use():
    import backprop_course

    assert backprop_course.grade_class.__module__ == "backprop_course.coordinator"
    assert set(backprop_course.__all__) <= set(dir(backprop_course))
    with pytest.raises(AttributeError, match="no attribute 'grade_klass'"):
        backprop_course.grade_klass  # noqa: B018
