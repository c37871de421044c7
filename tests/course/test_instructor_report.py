"""The class report (table, CSV, text) and the verdict of the pre-release check."""

from __future__ import annotations

import csv

import pytest

from backprop_course import ClassReport, StudentResult
from backprop_course.__main__ import main
from backprop_course.release_check import release_problems
from backprop_course.report_pictures import frequent_failures, write_pictures
from backprop_course.static_scan import Flag

MAX = {"test_a": 2.0, "test_b": 3.0}


def _report(*rows: StudentResult) -> ClassReport:
    return ClassReport("hw", dict(MAX), list(rows))


def test_csv_has_a_column_per_exercise_and_a_row_per_student(tmp_path):
    report = _report(
        StudentResult("ada", "graded", {"test_a": 2.0, "test_b": 1.5}),
        StudentResult("bob", "crashed", {"test_a": 0.0, "test_b": 0.0},
                      [Flag("b", "process-control", "calls os._exit()")],
                      "DeadKernelError: Kernel died"))
    report.write_csv(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows == [
        ["student", "status", "test_a", "test_b", "total", "max", "flags", "detail"],
        ["ada", "graded", "2", "1.5", "3.5", "5", "", ""],
        ["bob", "crashed", "0", "0", "0", "5", "process-control(b)",
         "DeadKernelError: Kernel died"],
    ]


def test_text_report_lists_statuses_failures_and_flags():
    text = _report(
        StudentResult("ada", "graded", {"test_a": 2.0, "test_b": 3.0}),
        StudentResult("bob", "timeout", {"test_a": 0.0, "test_b": 0.0}, [],
                      "over the time limit: killed after 600.0 s"),
        StudentResult("cy", "missing", {}, [], "nothing submitted")).format_text()
    assert "hw: 1 graded, 1 timeout, 1 missing" in text
    assert "bob: timeout, scored 0: over the time limit" in text
    assert text.splitlines()[1].split() == ["ada", "graded", "2", "3", "5", "5"]


def test_row_of_an_unknown_student_names_the_known_ones():
    with pytest.raises(KeyError, match="'zed'.*'ada'"):
        _report(StudentResult("ada", "graded", {})).row("zed")


def test_a_release_is_ok_when_the_reference_gets_everything_and_the_blank_nothing():
    assert release_problems(_report(
        StudentResult("blank", "graded", {"test_a": 0.0, "test_b": 0.0}),
        StudentResult("reference", "graded", {"test_a": 2.0, "test_b": 3.0}))) == []


def test_a_release_check_names_the_cells_that_went_wrong():
    problems = release_problems(_report(
        StudentResult("blank", "graded", {"test_a": 0.0, "test_b": 1.0}),
        StudentResult("reference", "graded", {"test_a": 0.0, "test_b": 3.0})))
    assert problems == [
        "the reference notebook scores 3, expected 5; cells: {'test_a': 0.0}",
        "the blank notebook scores 1, expected 0; cells: {'test_b': 1.0}",
    ]


def test_a_release_check_reports_a_crashed_reference():
    problems = release_problems(_report(
        StudentResult("blank", "graded", {"test_a": 0.0, "test_b": 0.0}),
        StudentResult("reference", "crashed", {}, [], "DeadKernelError")))
    assert problems == ["the reference notebook was not graded: crashed, DeadKernelError"]


def test_grade_refuses_to_overwrite_an_existing_report(tmp_path, capsys):
    existing = tmp_path / "grades.csv"
    existing.write_text("the instructor's own notes\n")
    status = main(["grade", "hw", "--course-dir", str(tmp_path), "--report", str(existing)])
    assert status == 2
    assert "pass --force" in capsys.readouterr().err
    assert existing.read_text() == "the instructor's own notes\n"


def test_the_class_picture_has_a_png_and_an_escaped_html_page_beside_the_csv(tmp_path):
    attack = '<script>alert("x")</script>'
    report = _report(
        StudentResult("ada", "graded", {"test_a": 2.0, "test_b": 3.0}),
        StudentResult("bob", "graded", {"test_a": 0.0, "test_b": 1.0},
                      failures={"test_a": (f"AssertionError: {attack}",),
                                "test_b": ("values (2): dx is wrong",)}),
        StudentResult("cy", "graded", {"test_a": 0.0, "test_b": 1.0},
                      failures={"test_a": (f"AssertionError: {attack}",),
                                "test_b": ("values (2): dx is wrong", "shape (1): (3,) expected")}),
        StudentResult("<img src=x onerror=alert(1)>", "crashed", {"test_a": 0.0, "test_b": 0.0},
                      [],
                      "DeadKernelError: <b>bold</b>"),
        StudentResult("eve", "missing", {}, [], "nothing submitted"))
    png, page = write_pictures(report, tmp_path / "grades.csv")
    assert (png, page) == (tmp_path / "grades.png", tmp_path / "grades.html")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "<script" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text
    assert '<img src="grades.png"' in text


def test_the_most_frequent_failures_are_counted_per_student_and_cell():
    report = _report(
        StudentResult("ada", "graded", {}, failures={"test_b": ("dx is wrong", "dx is wrong")}),
        StudentResult("bob", "graded", {}, failures={"test_b": ("dx is wrong", "shape")}),
        StudentResult("cy", "graded", {}, failures={"test_b": ("shape",), "test_a": ("no",)}))
    assert frequent_failures(report) == {"test_a": [("no", 1)],
                                         "test_b": [("dx is wrong", 2), ("shape", 2)]}
    assert frequent_failures(report, top=1)["test_b"] == [("dx is wrong", 2)]


def test_a_student_not_graded_because_the_grading_failed_is_told_apart():
    text = _report(StudentResult("ada", "error", {}, [], "KilledWorker: died 3 times")
                   ).format_text()
    assert "hw: 1 error" in text
    assert "ada: not graded, nothing recorded (rerun to grade): KilledWorker" in text
