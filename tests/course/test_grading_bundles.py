"""The plain data between the grading coordinator and its workers: bundles, the resume manifest,
failure lines, review notes and the --cluster option. No grading runs here."""

from __future__ import annotations

import multiprocessing
import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from backprop_course.bundles import SubmissionBundle, files_digest, read_folder, write_folder
from backprop_course.cluster import (
    ClusterSpec,
    WorkerNotUsable,
    check_workers,
    parse_cluster,
    worker_facts,
)
from backprop_course.manifest import GradingManifest, ManifestEntry
from backprop_course.static_scan import Flag
from backprop_course.worker import cell_failures, review_notes


def test_a_folder_travels_as_bytes_and_comes_back_identical(tmp_path):
    source = tmp_path / "submitted"
    (source / "data").mkdir(parents=True)
    (source / "hw.ipynb").write_bytes(b'{"cells": []}')
    (source / "data" / "x.npy").write_bytes(bytes(range(256)))
    files = read_folder(source)
    assert files == {"hw.ipynb": b'{"cells": []}', "data/x.npy": bytes(range(256))}
    write_folder(tmp_path / "copy", files)
    assert read_folder(tmp_path / "copy") == files


def test_links_in_a_submission_are_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the instructor's key")
    folder = tmp_path / "submitted"
    folder.mkdir()
    (folder / "hw.ipynb").write_text("{}")
    os.symlink(secret, folder / "steal.txt")
    os.symlink(tmp_path, folder / "everything")
    assert read_folder(folder) == {"hw.ipynb": b"{}"}


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/passwd", "a/../../b", ""])
def test_bundled_paths_cannot_leave_their_folder(tmp_path, name):
    with pytest.raises(ValueError, match="relative path inside its folder"):
        write_folder(tmp_path / "course", {name: b"x"})
    assert not (tmp_path / "outside.txt").exists()


def test_the_content_hash_changes_with_a_byte_or_a_name_and_not_with_order():
    files = {"a.ipynb": b"1", "b.txt": b"2"}
    digest = files_digest(files)
    assert files_digest({"b.txt": b"2", "a.ipynb": b"1"}) == digest
    assert files_digest({"a.ipynb": b"1", "b.txt": b"3"}) != digest
    assert files_digest({"a.ipynb": b"1", "c.txt": b"2"}) != digest
    assert SubmissionBundle("ada", files).digest == digest


def test_the_manifest_keeps_one_entry_per_student_and_gradebook(tmp_path):
    flags = {"hw": [Flag("answer", "process-control", "calls os._exit()")]}
    sqlite = GradingManifest(tmp_path / "m.sqlite", "sqlite:////course/gradebook.db")
    sqlite.put("hw", "ada", ManifestEntry("s1", "a1", "crashed", "DeadKernelError", 2.5, flags))
    sqlite.put("hw", "ada", ManifestEntry("s2", "a1", "graded", "", 1.5, {}))  # replaced
    sqlite.put("hw", "bob", ManifestEntry("s3", "a1", "graded"))
    entry = sqlite.get("hw", "ada")
    assert (entry.submission_sha256, entry.status, entry.seconds) == ("s2", "graded", 1.5)
    assert sqlite.count("hw") == 2
    sqlite.put("hw", "cy", ManifestEntry("s4", "a1", "crashed", "why", 1.0, flags))
    assert sqlite.get("hw", "cy").flags == flags
    other = GradingManifest(tmp_path / "m.sqlite", "postgresql://grader@db/course")
    assert other.get("hw", "ada") is None and other.count("hw") == 0
    assert b"postgresql" not in (tmp_path / "m.sqlite").read_bytes(), "URLs may hold passwords"


def _graded(grade_id: str, *outputs) -> nbformat.NotebookNode:
    cell = new_code_cell("check(...)", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": 3}})
    cell.outputs = list(outputs)
    return cell


def test_failure_lines_come_from_errors_and_rubric_summaries():
    nb = new_notebook(cells=[
        new_code_cell("x = 1"),  # not graded: ignored
        _graded("test_a", new_output("error", ename="GradingFailure",
                                     evalue="dx is wrong: check the sign\nmore detail",
                                     traceback=[])),
        _graded("test_b", new_output("stream", name="stdout", text=(
            "1/3 points: [ok] shape (1)  [FAILED] values (2): sigmoid_grad is wrong: use s "
            "* (1 - s)  [FAILED] dtype (0.5): float64 expected\n"))),
        _graded("test_c", new_output("stream", name="stdout", text="3/3 points: [ok] all (3)")),
    ])
    assert cell_failures(nb) == {
        "test_a": ("GradingFailure: dx is wrong: check the sign",),
        "test_b": ("values (2): sigmoid_grad is wrong: use s * (1 - s)",
                   "dtype (0.5): float64 expected"),
        "test_c": (),
    }


def test_review_notes_say_why_a_run_scored_zero_and_place_every_flag():
    flags = {"hw1": [Flag("answer_a", "numpy-patched", "assigns numpy.allclose")],
             "extra files": [Flag("evil.py", "extra-files", "hidden from the notebooks")]}
    notes = review_notes("timeout", "killed after 600.0 s", flags, ["hw1", "hw2"])
    assert notes["hw1"][None] == ["Autograding did not finish (timeout: killed after 600.0 s); "
                                  "every cell of this notebook scores 0."]
    assert notes["hw1"]["answer_a"] == ["Flagged for review: [numpy-patched] answer_a: assigns "
                                        "numpy.allclose"]
    assert notes["hw1"]["evil.py"] == ["Flagged for review: [extra-files] evil.py: hidden from "
                                       "the notebooks"]
    assert list(notes["hw2"]) == [None]
    assert review_notes("graded", "", {}, ["hw1"]) == {"hw1": {}}


@pytest.mark.parametrize(("text", "spec"), [
    ("tcp://10.0.0.5:8786", ClusterSpec(address="tcp://10.0.0.5:8786")),
    ("tls://scheduler.example.org:8786", ClusterSpec(address="tls://scheduler.example.org:8786")),
    ("local:4", ClusterSpec(local_workers=4)),
])
def test_the_cluster_option_takes_an_address_or_a_local_size(text, spec):
    assert parse_cluster(text) == spec
    assert str(parse_cluster(text)) == text


@pytest.mark.parametrize("text", ["local:0", "local:two", "10.0.0.5:8786", "tcp://"])
def test_a_malformed_cluster_option_says_what_is_expected(text):
    with pytest.raises(ValueError, match="local:N"):
        parse_cluster(text)


def _facts_in_a_daemon(queue) -> None:
    queue.put(worker_facts(False, None))


def test_a_daemonic_worker_process_is_told_to_be_started_otherwise():
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_facts_in_a_daemon, args=(queue,), daemon=True)
    process.start()
    facts = queue.get(timeout=30)
    process.join(timeout=30)
    assert "DASK_DISTRIBUTED__WORKER__DAEMON=False" in facts["problem"]
    assert worker_facts(False, None)["problem"] == ""  # this process is not a daemon


class _FakeClient:
    def __init__(self, facts):
        self.facts = facts

    def run(self, function, *args, on_error="raise"):
        assert on_error == "return"
        return self.facts


def test_workers_that_cannot_grade_stop_the_run_with_their_names():
    good = worker_facts(False, None)
    assert check_workers(_FakeClient({"tcp://a:1": good, "tcp://b:2": good}), False, None) == 2
    older = {**good, "nbgrader": "0.8.0"}
    broken = ModuleNotFoundError("No module named 'backprop_course'")
    with pytest.raises(WorkerNotUsable) as raised:
        check_workers(_FakeClient({"tcp://a:1": good, "tcp://b:2": older, "tcp://c:3": broken}),
                      False, None)
    assert "tcp://a:1" not in str(raised.value)
    assert "tcp://b:2" in str(raised.value) and "nbgrader 0.8.0" in str(raised.value)
    assert "tcp://c:3: ModuleNotFoundError" in str(raised.value)
    with pytest.raises(WorkerNotUsable, match="no workers"):
        check_workers(_FakeClient({}), False, None)
