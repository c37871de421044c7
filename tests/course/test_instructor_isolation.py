"""Worker isolation: time limit kills the whole process tree, memory cap, outcomes, retries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from multiprocessing.connection import wait

import psutil
import pytest

from backprop_course import grade_class, worker
from backprop_course.isolation import IsolatedJob, Limits


def _run(fn, limits, tmp_path, *args):
    job = IsolatedJob(fn, args, limits, tmp_path / "output.log")
    job.start()
    left = job.seconds_left()
    ready = wait([job.sentinel], timeout=left)
    return job.collect() if ready else job.kill()


def _sleep_with_a_grandchild_in_its_own_session(pid_file):
    """Like a worker whose Jupyter kernel runs in a separate session."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)
    pid_file.write_text(str(child.pid))
    time.sleep(60)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_job_over_its_time_is_killed_with_every_process_it_started(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    start = time.monotonic()
    end = _run(_sleep_with_a_grandchild_in_its_own_session, Limits(seconds=1.5), tmp_path,
               pid_file)
    assert end.status == "timeout"
    assert time.monotonic() - start < 10
    assert _gone(int(pid_file.read_text()))


def _allocate(n_bytes):
    return len(bytearray(n_bytes))


def _allocate_in_a_child_process(n_bytes):
    return subprocess.run([sys.executable, "-c", f"bytearray({n_bytes})"],
                          capture_output=True, text=True).stderr


def test_memory_cap_applies_to_the_job_and_to_the_processes_it_starts(tmp_path):
    cap = psutil.Process().memory_info().vms + 512 * 2**20
    over = _run(_allocate, Limits(memory_bytes=cap), tmp_path, 2 * cap)
    assert over.status == "raised" and "MemoryError" in over.detail
    child_stderr = _run(_allocate_in_a_child_process, Limits(memory_bytes=cap), tmp_path, cap)
    assert "MemoryError" in child_stderr.value
    under = _run(_allocate, Limits(memory_bytes=cap), tmp_path, 2**20)
    assert (under.status, under.value) == ("returned", 2**20)


def _fail():
    raise ValueError("bad input in the job")


def test_exceptions_and_silent_deaths_are_reported(tmp_path):
    raised = _run(_fail, Limits(), tmp_path)
    died = _run(os._exit, Limits(), tmp_path, 3)
    assert raised.status == "raised" and "ValueError: bad input in the job" in raised.detail
    assert (died.status, died.detail) == ("died", "exit code 3")


def test_job_output_goes_to_its_log_file(tmp_path):
    _run(os.write, Limits(), tmp_path, 2, b"hello from the worker's stderr\n")
    assert (tmp_path / "output.log").read_text() == "hello from the worker's stderr\n"


@pytest.mark.parametrize(("success", "log", "outcome", "error"), [
    (True, "", "graded", ""),
    (False, "    KeyError: 'sigmoid'\n    \nnbgrader.converters.base.NbGraderException: see\n",
     "failed", "KeyError: 'sigmoid'"),
    (False, "[ERROR] something odd", "failed", "see nbgrader's log"),
])
def test_nbgrader_outcomes_are_classified_from_its_log(success, log, outcome, error):
    result = worker.classify(success, log)
    assert (result.outcome, result.error) == (outcome, error)


@pytest.mark.parametrize(("options", "message"), [
    ({"workers": 0}, "workers must be at least 1, got 0"),
    ({"memory_bytes": 2**20}, r"memory_bytes must be at least .* GiB .*got 0.00 GiB"),
])
def test_grade_class_rejects_limits_it_cannot_work_with(options, message):
    with pytest.raises(ValueError, match=message):
        grade_class(None, "tiny", **options)  # rejected before the course is touched
