"""Autograde one student inside a worker process (see :mod:`.isolation`).

Each worker talks to its kernel over IPC sockets under its own directory instead of TCP ports:
parallel workers picking TCP ports race for them ("Address already in use", about one kernel
start in 124 in our measurements); unique IPC paths cannot collide. A run that fails on that
race anyway is retried once.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass

from traitlets.config import Config

from backprop_course.course import Course

PORT_RACE = "Address already in use"
#: Thread pools of numpy's BLAS in the kernel: one thread each, so that N workers use N cores.
SINGLE_THREADED = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*)$",
                         re.MULTILINE)


@dataclass(frozen=True)
class WorkerResult:
    """What nbgrader said about one student's run.

    Attributes
    ----------
    success : bool
        nbgrader autograded every notebook.
    outcome : str
        "graded", "crashed" (the kernel died), "timeout" (a cell ran past its limit and the
        kernel could not be interrupted) or "failed" (nbgrader could not process the
        submission).
    error : str
        The last exception line of nbgrader's log ("" on success).
    attempts : int
        1, or 2 after a retried kernel-port race.
    """

    success: bool
    outcome: str
    error: str
    attempts: int


def autograde_in_worker(config: Config, assignment: str, student: str,
                        ipc_prefix: str) -> WorkerResult:
    """Autograde ``student``'s submission of ``assignment``, retrying once on a port race.

    Parameters
    ----------
    config : Config
        The course configuration (:func:`course_config`); copied, not modified.
    ipc_prefix : str
        Absolute path prefix, unique to this worker, for the kernel's IPC sockets.
    """
    for name in SINGLE_THREADED:
        os.environ.setdefault(name, "1")
    config = copy.deepcopy(config)
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = ipc_prefix
    course = Course(config.CourseDirectory.root, config)
    attempts = 0
    while True:
        attempts += 1
        result = course.autograde(assignment, student)
        log = f"{result.get('log') or ''}\n{result.get('error') or ''}"
        if result.get("success") or PORT_RACE not in log or attempts == 2:
            return classify(bool(result.get("success")), log, attempts)


def classify(success: bool, log: str, attempts: int = 1) -> WorkerResult:
    """Turn nbgrader's success flag and log into a :class:`WorkerResult`."""
    if success:
        return WorkerResult(True, "graded", "", attempts)
    if "DeadKernelError" in log or "Kernel died" in log:
        outcome = "crashed"
    elif any(sign in log for sign in ("CellTimeoutError", "UnresponsiveKernelError",
                                      "became unresponsive")):
        outcome = "timeout"
    else:
        outcome = "failed"
    errors = [line for line in (m.group(1).strip() for m in _ERROR_LINE.finditer(log))
              if not line.startswith("nbgrader.converters.base.NbGraderException")]
    return WorkerResult(False, outcome, errors[-1] if errors else "see nbgrader's log", attempts)
