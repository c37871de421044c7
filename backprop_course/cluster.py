"""Grade a class on a Dask cluster (``backprop-course grade ASSIGNMENT --cluster ...``).

Each student is one Dask task (:func:`grade_on_worker`). A task gets the assignment
(:class:`~backprop_course.bundles.AssignmentBundle`, sent to the cluster once, as the result of
a tiny task that every grading task depends on: Dask recomputes it if the workers holding it
die) and the student's submitted bytes; it grades in a temporary course on the worker, through
the same code as local grading (:func:`backprop_course.worker.grade_student`, the sandbox
included), and returns a :class:`~backprop_course.bundles.GradingOutcome`. The coordinator
records each outcome once, as it arrives (:func:`run_on_cluster`'s ``on_outcome``).

Failures: a worker that dies mid-task has its task rerun on another worker by the scheduler;
after ``distributed.scheduler.allowed-failures`` deaths (3 by default; :data:`ALLOWED_FAILURES`
on a ``local:N`` cluster) the task is given up as ``KilledWorker`` and the student is reported
as "error" with nothing recorded, so that a rerun grades them. An exception in a task (not in
the student's notebook: those are outcomes) is retried :data:`TASK_RETRIES` time(s), then
reported the same way. A cluster that cannot grade at all (no sandbox on a worker, a daemonic
worker process, a source folder that does not match the gradebook) stops the run.

A worker must be able to start processes of its own: Dask's nanny starts worker processes as
daemons by default, and a daemon may not have children. Start workers with
``DASK_DISTRIBUTED__WORKER__DAEMON=False`` in their environment (or ``dask worker
--no-nanny``); ``--cluster local:N`` does this itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import dask
import nbgrader
from distributed import Client, LocalCluster, as_completed
from distributed.scheduler import KilledWorker

from backprop_course.bundles import AssignmentBundle, GradingOutcome, SubmissionBundle
from backprop_course.isolation import Limits
from backprop_course.sandbox import SandboxUnavailable
from backprop_course.worker import (
    GradingSetupError,
    TemplateMismatch,
    cached_template,
    check_memory,
    ensure_sandbox,
    grade_student,
)

#: Deaths of the workers running one task before it is given up (a ``local:N`` cluster's
#: scheduler; a remote scheduler uses its own ``distributed.scheduler.allowed-failures``).
ALLOWED_FAILURES = 3
#: Reruns of a task that raised (an error of the worker, not of the student's notebook).
TASK_RETRIES = 1
#: Seconds to wait for a remote scheduler to answer.
CONNECT_SECONDS = 30


class WorkerNotUsable(GradingSetupError):
    """A Dask worker cannot grade: the run stops with what to fix."""


#: Exceptions of a task that stop the whole run: every other task would fail the same way.
FATAL = (WorkerNotUsable, SandboxUnavailable, TemplateMismatch)


@dataclass(frozen=True)
class ClusterSpec:
    """Where to grade: a scheduler's address, or a local cluster of ``local_workers``."""

    address: str | None = None
    local_workers: int | None = None

    def __str__(self) -> str:
        return self.address or f"local:{self.local_workers}"


def parse_cluster(text: str) -> ClusterSpec:
    """``tcp://HOST:PORT`` (any Dask address with a scheme) or ``local:N``.

    Raises
    ------
    ValueError
        Neither form, or N below 1.
    """
    if text.startswith("local:"):
        try:
            workers = int(text.removeprefix("local:"))
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"--cluster local:N needs a number of workers N >= 1, got {text!r}")
        return ClusterSpec(local_workers=workers)
    if "://" in text and text.split("://", 1)[1]:
        return ClusterSpec(address=text)
    raise ValueError(f"--cluster must be a scheduler address such as tcp://10.0.0.5:8786, or "
                     f"local:N for N local worker processes; got {text!r}")


@contextlib.contextmanager
def connect(spec: ClusterSpec) -> Iterator[Client]:
    """A Dask client for ``spec``; a ``local:N`` cluster (N single-threaded worker processes,
    listening on 127.0.0.1 only) lives as long as the block."""
    if spec.address is not None:
        with Client(spec.address, timeout=CONNECT_SECONDS) as client:
            yield client
        return
    settings = {"distributed.worker.daemon": False,  # workers fork a process per student
                "distributed.scheduler.allowed-failures": ALLOWED_FAILURES}
    with dask.config.set(settings), \
            LocalCluster(n_workers=spec.local_workers, threads_per_worker=1, processes=True,
                         host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        yield client


def worker_facts(sandbox: bool, memory_bytes: int | None) -> dict[str, str]:
    """What a worker process says about itself; "problem" is "" when it can grade."""
    problems = []
    if multiprocessing.current_process().daemon:
        problems.append("it runs as a daemonic process, which may not start the grading "
                        "process: start it with DASK_DISTRIBUTED__WORKER__DAEMON=False (or "
                        "`dask worker --no-nanny`)")
    try:
        check_memory(memory_bytes)
        if sandbox:
            ensure_sandbox(memory_bytes)
    except (ValueError, SandboxUnavailable) as error:
        problems.append(str(error))
    return {"python": platform.python_version(), "nbgrader": nbgrader.__version__,
            "host": socket.gethostname(), "problem": "; ".join(problems)}


def check_workers(client: Client, sandbox: bool, memory_bytes: int | None) -> int:
    """Ask every connected worker whether it can grade; returns how many there are.

    Raises
    ------
    WorkerNotUsable
        There is no worker, one cannot grade, or one runs another Python (major.minor) or
        nbgrader than this process.
    """
    facts = client.run(worker_facts, sandbox, memory_bytes, on_error="return")
    if not facts:
        raise WorkerNotUsable("the Dask scheduler has no workers: start some with "
                              "`dask worker SCHEDULER_ADDRESS --nthreads 1`")
    here = (".".join(platform.python_version().split(".")[:2]), nbgrader.__version__)
    problems = []
    for address, fact in sorted(facts.items()):
        if isinstance(fact, BaseException):  # e.g. this package is not installed there
            problems.append(f"{address}: {type(fact).__name__}: {fact}")
            continue
        there = (".".join(fact["python"].split(".")[:2]), fact["nbgrader"])
        if there != here:
            problems.append(f"{address} ({fact['host']}) has Python {there[0]} and nbgrader "
                            f"{there[1]}, this machine Python {here[0]} and nbgrader {here[1]}")
        if fact["problem"]:
            problems.append(f"{address} ({fact['host']}): {fact['problem']}")
    if problems:
        raise WorkerNotUsable("Dask workers that cannot grade: " + " | ".join(problems))
    return len(facts)


def grade_on_worker(bundle: AssignmentBundle, submission: SubmissionBundle,
                    limits: Limits, feedback: bool = True) -> GradingOutcome:
    """The Dask task: grade one student on this worker (see the module docstring)."""
    fact = worker_facts(bool(bundle.config.TrustedExecute.get("sandbox", True)),
                        limits.memory_bytes)
    if fact["problem"]:
        raise WorkerNotUsable(f"Dask worker on {fact['host']}: {fact['problem']}")
    outcome = grade_student(cached_template(bundle), bundle, submission, limits, feedback)
    return replace(outcome, worker=f"{socket.gethostname()}:{os.getpid()}")


def _the(bundle: AssignmentBundle) -> AssignmentBundle:
    return bundle


def run_on_cluster(client: Client, bundle: AssignmentBundle,
                   submissions: Sequence[SubmissionBundle], limits: Limits,
                   on_outcome: Callable[[GradingOutcome], None], feedback: bool = True) -> None:
    """Grade ``submissions`` as one task each (making the ``feedback`` too, unless false);
    ``on_outcome`` hears of each student once.

    Raises
    ------
    WorkerNotUsable, SandboxUnavailable, TemplateMismatch
        From a task: nothing more is graded (outcomes already heard of stay recorded).
    """
    run = uuid.uuid4().hex[:12]
    shared = client.submit(_the, bundle, key=f"bk-assignment-{bundle.assignment}-{run}",
                           pure=False)
    futures = {client.submit(grade_on_worker, shared, submission, limits, feedback, pure=False,
                             retries=TASK_RETRIES,
                             key=f"bk-grade-{bundle.assignment}-{submission.student}-{run}"):
               submission.student for submission in submissions}
    heard: set[str] = set()
    try:
        for future in as_completed(futures):
            student = futures[future]
            try:
                outcome = future.result()
            except FATAL:
                raise
            except KilledWorker as error:
                outcome = GradingOutcome(student, "error", "the Dask workers grading it died "
                                         f"{ALLOWED_FAILURES} times or more ({error})")
            except Exception as error:  # the worker's failure, not the student's
                outcome = GradingOutcome(student, "error", f"{type(error).__name__}: {error}")
            future.release()
            if student not in heard:  # one result per task; never record a student twice
                heard.add(student)
                on_outcome(outcome)
    finally:
        client.cancel([future for future in futures if not future.done()] + [shared])
