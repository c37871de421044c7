"""Run one job in its own process, with a wall-clock limit and a memory cap.

A student's code runs in a process that the job starts; it inherits the job's address-space
limit (``RLIMIT_AS``), so a memory bomb raises ``MemoryError`` there instead of exhausting the
machine. When the job runs past its time, the job and every process below it are killed: the
sandboxed process runs in its own session, so killing the job's process group would miss it;
the process tree is walked instead.

The child is forked, so it starts without re-importing nbgrader (a fresh interpreter costs
about 2.4 s on this machine) and the job may be any callable, closures included. Its return
value comes back through a pipe and must be picklable.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Limits:
    """What one job may use.

    Attributes
    ----------
    seconds : float or None
        Wall-clock limit for the whole job; None for none.
    memory_bytes : int or None
        Address-space cap (``RLIMIT_AS``) of the job and the processes it starts; None for none.
    """

    seconds: float | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True)
class JobEnd:
    """How a job ended.

    ``status`` is "returned" (``value`` holds the return value), "raised" (``detail`` holds the
    traceback), "timeout" (killed at its limit) or "died" (the process ended without a word,
    e.g. killed by the kernel's OOM killer).
    """

    status: str
    value: object = None
    detail: str = ""
    seconds: float = 0.0


class IsolatedJob:
    """``fn(*args)`` in a forked child; stdout and stderr of the child (and its kernel) go to
    ``output_path``.

    Use :meth:`start`, wait on :attr:`sentinel` (``multiprocessing.connection.wait``), then
    call :meth:`collect` once it is ready or :meth:`kill` once :meth:`overdue` says so.
    """

    def __init__(self, fn: Callable[..., object], args: tuple, limits: Limits,
                 output_path: str | os.PathLike) -> None:
        self.limits = limits
        self.output_path = Path(output_path)
        self._receiver, sender = _FORK.Pipe(duplex=False)
        self._process = _FORK.Process(target=_child_main, daemon=True,
                                      args=(sender, fn, args, limits.memory_bytes,
                                            str(self.output_path)))
        self._sender = sender
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._process.start()
        self._sender.close()

    @property
    def pid(self) -> int | None:
        """The child's process id (None before :meth:`start`)."""
        return self._process.pid

    @property
    def sentinel(self) -> int:
        """Becomes ready when the child exits."""
        return self._process.sentinel

    def seconds_left(self) -> float | None:
        if self.limits.seconds is None:
            return None
        return self.limits.seconds - (time.monotonic() - self._started)

    def overdue(self) -> bool:
        left = self.seconds_left()
        return left is not None and left <= 0

    def collect(self) -> JobEnd:
        """The outcome of a child that has exited (or is about to)."""
        elapsed = time.monotonic() - self._started
        try:
            status, payload = self._receiver.recv() if self._receiver.poll(5) else ("died", None)
        except (EOFError, OSError):
            status, payload = "died", None
        self._process.join()
        self._receiver.close()
        if status == "returned":
            return JobEnd("returned", value=payload, seconds=elapsed)
        detail = payload if status == "raised" else f"exit code {self._process.exitcode}"
        return JobEnd(status, detail=detail, seconds=elapsed)

    def kill(self) -> JobEnd:
        """Kill the child and every process it started; the outcome is a timeout."""
        elapsed = time.monotonic() - self._started
        kill_process_tree(self._process.pid)
        self._process.join()
        self._receiver.close()
        return JobEnd("timeout", detail=f"killed after {elapsed:.1f} s", seconds=elapsed)


def kill_process_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (children first found, then the process)."""
    try:
        root = psutil.Process(pid)
        family = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        return
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def _child_main(sender, fn: Callable[..., object], args: tuple, memory_bytes: int | None,
                output_path: str) -> None:
    output = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    try:
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        sender.send(("returned", fn(*args)))
    except BaseException:  # the parent must hear about any failure, whatever it is
        sender.send(("raised", traceback.format_exc()))
    finally:
        sender.close()
