"""The trusted side of one notebook: an IPython shell in a forked child of the grading process.

:class:`~.executor.TrustedExecute` runs the instructor's test and setup cells here instead of in
a Jupyter kernel: a kernel is a fresh interpreter that imports ipykernel, ZMQ, IPython, numpy
and the course's packages for every notebook, about a second of CPU before the first cell. The
grading process has imported them once; a fork of it starts in milliseconds.

The child (:func:`_child_main`) is made for one notebook and ends with it, so nothing carries
over from one student to the next; the process it is forked from never runs a cell. Before it
runs anything it

- moves into an empty private folder and drops the working directory (``""``, ``"."`` and the
  parent's folder) from ``sys.path``, and sets ``PYTHONSAFEPATH=1``: nothing submitted beside
  the notebook can shadow an import (what a kernel started with ``-P`` in that folder gets);
- resets what the parent may have changed and a fresh interpreter would not have: warning
  filters and registries, numpy's floating-point error handling, signal handlers (SIGINT raises
  KeyboardInterrupt while a cell runs, so the parent can interrupt it; one that comes after the
  cell has ended is dropped), asyncio's running loop;
- asks Linux to kill it when the grading process ends;
- starts an IPython ``InteractiveShell`` (history in memory, its profile in the private folder)
  whose outputs are recorded as notebook outputs, as a kernel's messages become them in nbclient:
  text written to ``sys.stdout``/``sys.stderr`` becomes ``stream`` outputs named ``stdout`` and
  ``stderr`` (nbgrader scores a test cell with stderr output 0), ``display()`` and inline
  matplotlib figures ``display_data``, the cell's value ``execute_result`` (with its execution
  count: nbgrader reads partial credit there), an exception an ``error`` output with its
  traceback; the reply's status is "error" when the cell raised;
- starts the answer server (:func:`.kernel_side.start`) at once, while the parent goes on.

The parent talks to it over a socket pair, JSON both ways (never pickle); each request gets one
reply. A cell over its time limit is interrupted (SIGINT: KeyboardInterrupt in the cell, which
also stops a call to the student's process under way) and gets nbgrader's timeout error; a
child that does not answer within :data:`INTERRUPT_GRACE` seconds after that is killed, and so
is one whose reply cannot be read: every later cell then fails with an error output.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import json
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe

#: Seconds a cell gets, after the interrupt at its time limit, to end with its traceback.
INTERRUPT_GRACE = 5.0
#: What ipykernel reports as the notebook's ``language_info``.
LANGUAGE_INFO = {"name": "python", "version": ".".join(map(str, sys.version_info[:3])),
                 "mimetype": "text/x-python", "codemirror_mode": {"name": "ipython", "version": 3},
                 "pygments_lexer": "ipython3", "nbconvert_exporter": "python",
                 "file_extension": ".py"}
#: The inline backend ipykernel selects unless ``MPLBACKEND`` says otherwise.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: A fresh Python 3.11's warning filters (``python -c "import warnings; print(warnings.filters)"``),
#: first to last; ``-W`` options and ``PYTHONWARNINGS`` (``sys.warnoptions``) come before them.
DEFAULT_WARNING_FILTERS = (("default", DeprecationWarning, "__main__"),
                           ("ignore", DeprecationWarning, None),
                           ("ignore", PendingDeprecationWarning, None),
                           ("ignore", ImportWarning, None),
                           ("ignore", ResourceWarning, None))
_PR_SET_PDEATHSIG = 1
#: What the trusted side of a notebook imports: the grading process imports them once, before
#: it forks (:func:`warm_imports`), so that no child pays for them. Libraries and the course's
#: own packages only; nothing here runs a cell.
WARM_MODULES = ("numpy", "IPython.core.interactiveshell", "IPython.core.pylabtools",
                "IPython.display", "matplotlib", "matplotlib.pyplot",
                "matplotlib.backends.backend_agg", "matplotlib_inline.backend_inline",
                "backprop_grading", "backprop_kit", "backprop_kit.gradcheck",
                "backprop_kit.plotting", "backprop_course.trusted.kernel_side")


def warm_imports() -> None:
    """Import :data:`WARM_MODULES` in this process (once; a missing one is skipped).

    Importing pyplot selects no backend: each child selects the inline one, as a kernel would.
    """
    for name in WARM_MODULES:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # an optional library: the child imports what it needs itself
                pass
    from backprop_course.sandbox import matplotlib_font_list

    matplotlib_font_list()  # written here once, not by every forked child


@dataclass
class CellReply:
    """What running one cell produced.

    Attributes
    ----------
    status : str
        "ok", "error" (the cell raised, or the child failed), or "timeout".
    outputs : list of dict
        Notebook outputs (nbformat 4 dicts), in order.
    execution_count : int or None
    """

    status: str
    outputs: list[dict] = field(default_factory=list)
    execution_count: int | None = None


def error_output(ename: str, message: str) -> dict:
    """An ``error`` output whose traceback is ``ename: message``."""
    return {"output_type": "error", "ename": ename, "evalue": message,
            "traceback": [f"{ename}: {message}"]}


class TrustedShell:
    """The parent's handle on one notebook's trusted child.

    Parameters
    ----------
    folder : str
        An empty private folder (removed by the caller): the child works in a new empty
        folder ``work`` in it, and keeps IPython's profile in ``ipython``.
    start : tuple or None
        ``(workdir, trusted_sources, sandbox)``, the arguments of :func:`.kernel_side.start`,
        which the child calls as soon as it is ready (None: no answer server).
    """

    def __init__(self, folder: str, start: tuple | None) -> None:
        parent_end, child_end = Pipe(duplex=True)
        self.pid = os.fork()
        if self.pid == 0:  # the child never returns from here
            parent_end.close()
            code = 1
            try:
                code = _child_main(child_end, folder, start)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        child_end.close()
        self.connection: Connection | None = parent_end
        self.dead: str | None = None
        self._started: CellReply | None = None

    # ------------------------------------------------------------------------ requests
    def started(self, timeout: float | None) -> CellReply:
        """The outcome of starting the answer server (waited for once)."""
        if self._started is None:
            self._started = self._reply(timeout)
        return self._started

    def run_cell(self, source: str, timeout: float | None) -> CellReply:
        """Run an instructor cell in the shell (stand-ins bound first)."""
        return self._request({"op": "cell", "source": source}, timeout)

    def run_student_cell(self, source: str, student: bool, timeout: float | None) -> CellReply:
        """Run a cell in the student's process, through the child's session; the outputs are
        the student's process's (untrusted data: check them before use)."""
        return self._request({"op": "student", "source": source, "student": student}, timeout)

    def _request(self, message: dict, timeout: float | None) -> CellReply:
        if self._started is None:  # its reply comes first
            self.started(timeout)
        if self.dead is None:
            try:
                self.connection.send_bytes(json.dumps(message).encode())
            except OSError as error:
                self._kill(f"the grading process could not be reached ({error})")
        if self.dead is not None:
            return CellReply("error", [error_output("GradingError", self.dead)])
        return self._reply(timeout)

    def _reply(self, timeout: float | None) -> CellReply:
        """The child's next reply; interrupt it at ``timeout`` seconds, kill it if it then does
        not answer within :data:`INTERRUPT_GRACE`."""
        if self.dead is not None:
            return CellReply("error", [error_output("GradingError", self.dead)])
        timed_out = not self._ready(timeout)
        if timed_out:
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            if not self._ready(INTERRUPT_GRACE):
                self._kill(f"the grading process did not stop {INTERRUPT_GRACE:g} s after a "
                           f"cell ran past its time limit ({timeout:g} s); it was killed")
                return CellReply("timeout", [error_output("GradingError", self.dead)])
        try:
            reply = json.loads(self.connection.recv_bytes())
            outputs = reply["outputs"]
            if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
                raise ValueError("outputs must be a list of dicts")
            result = CellReply(str(reply["status"]), outputs, reply.get("execution_count"))
        except (EOFError, OSError, ValueError, KeyError, TypeError) as error:
            self._kill(f"the grading process ended or sent a broken reply "
                       f"({type(error).__name__}: {error})")
            return CellReply("error", [error_output("GradingError", self.dead)])
        if timed_out:
            result.status = "timeout"
        return result

    def _ready(self, timeout: float | None) -> bool:
        try:
            return self.connection.poll(timeout)
        except (OSError, EOFError):
            return True  # the read that follows says what is wrong

    def _kill(self, why: str) -> None:
        self.dead = why
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """End the child (its answer server ends with it) and reap it."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for _ in range(5000):  # within 5 s; a killed child is gone in a millisecond or two
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            time.sleep(0.001)


# --------------------------------------------------------------------------- the child

def _child_main(connection: Connection, folder: str, start: tuple | None) -> int:
    """Set up the child, start the session, then serve requests until the parent hangs up."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        return 1
    interruptible = [False]

    def on_interrupt(signum, frame) -> None:
        if interruptible[0]:  # only while a cell or a start runs; a late one is dropped
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    for number in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    asyncio.events._set_running_loop(None)  # forked while an event loop ran: not ours
    workdir, ipython_dir = os.path.join(folder, "work"), os.path.join(folder, "ipython")
    os.mkdir(workdir, 0o700)
    _fresh_interpreter_state(workdir, ipython_dir)
    shell = _make_shell(ipython_dir)
    from backprop_course.trusted import kernel_side

    def serve(message: dict | None) -> dict:
        if message is None:
            return _guarded(shell, lambda: start and kernel_side.start(*start))
        if message.get("op") == "cell":
            return shell.bp_run(str(message["source"]))
        source, student = str(message["source"]), bool(message["student"])
        return _guarded(shell, lambda: kernel_side.run_cell(source, student))

    message = None  # the first reply: the start's
    while True:
        reply = None
        try:
            try:
                interruptible[0] = True
                reply = serve(message)  # catches everything, the interrupt included
            finally:
                interruptible[0] = False
        except KeyboardInterrupt:  # came after serve() had ended, or before it began
            pass
        if reply is None:
            reply = {"status": "error", "outputs": [error_output(
                "KeyboardInterrupt", "interrupted at the time limit")]}
        _send(connection, reply)
        try:
            message = json.loads(connection.recv_bytes())
        except (EOFError, OSError):
            return 0


def _send(connection: Connection, reply: dict) -> None:
    connection.send_bytes(json.dumps(reply, default=lambda value: None, skipkeys=True)
                          .encode())


def _guarded(shell, action) -> dict:
    """Run ``action`` (start, or a student cell) and make its reply; never raises."""
    shell.bp_outputs = []
    try:
        value = action()
    except BaseException as error:  # KeyboardInterrupt at the time limit included
        return {"status": "error", "outputs": [error_output(
            type(error).__name__ if not isinstance(error, RuntimeError) else "GradingError",
            str(error))]}
    outputs = value.get("outputs", []) if isinstance(value, dict) else []
    return {"status": "ok", "outputs": outputs}


def _fresh_interpreter_state(folder: str, ipython_dir: str) -> None:
    """What a kernel started in ``folder`` with ``-P`` would have that the fork does not.

    Warnings are shown on stdout as notes, as importing the course's grading helpers (which
    every notebook's setup does, and the parent did before forking: :func:`warm_imports`) makes
    them in a fresh kernel, whatever the parent process did to ``warnings.showwarning`` since.
    """
    before = os.getcwd()
    os.chdir(folder)
    drop = {"", ".", before, os.path.realpath(before)}
    sys.path[:] = [entry for entry in sys.path if entry not in drop]
    sys.path_importer_cache.clear()
    os.environ["PYTHONSAFEPATH"] = "1"
    os.environ["IPYTHONDIR"] = ipython_dir
    if not os.environ.get("MPLBACKEND"):
        os.environ["MPLBACKEND"] = INLINE_BACKEND
    warnings.resetwarnings()
    for action, category, module in reversed(DEFAULT_WARNING_FILTERS):
        warnings.filterwarnings(action, category=category, module=module or "")
    warnings._processoptions(sys.warnoptions)  # -W and PYTHONWARNINGS
    from backprop_grading.warnings_capture import route_warnings_to_stdout

    route_warnings_to_stdout()
    for module in list(sys.modules.values()):
        registry = getattr(module, "__warningregistry__", None)
        if isinstance(registry, dict):
            registry.clear()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.seterr(all="warn", under="ignore")


def _make_shell(ipython_dir: str):
    """A new InteractiveShell whose outputs go to ``shell.bp_outputs`` as notebook outputs."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config, ipython_dir=ipython_dir)
    shell.bp_outputs = []
    shell.bp_clear_pending = False

    def add(output: dict) -> None:
        if shell.bp_clear_pending:
            shell.bp_outputs.clear()
            shell.bp_clear_pending = False
        shell.bp_outputs.append(output)

    class ResultHook(DisplayHook):
        def start_displayhook(self) -> None:
            pass

        def write_output_prompt(self) -> None:
            pass

        def write_format_data(self, format_dict, md_dict=None) -> None:
            add({"output_type": "execute_result", "data": format_dict,
                 "metadata": md_dict or {}, "execution_count": self.prompt_count})

        def finish_displayhook(self) -> None:
            pass

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs) -> None:
            add({"output_type": "display_data", "data": data, "metadata": metadata or {}})

        def clear_output(self, wait: bool = False) -> None:
            if wait:
                shell.bp_clear_pending = True
            else:
                shell.bp_outputs.clear()

    class Stream:
        """sys.stdout / sys.stderr while a cell runs: text becomes stream outputs."""

        encoding = "utf-8"
        errors = "strict"

        def __init__(self, name: str) -> None:
            self.name = name

        def write(self, text: str) -> int:
            if not isinstance(text, str):
                raise TypeError(f"write() argument must be str, not {type(text).__name__}")
            if text:
                outputs = shell.bp_outputs
                if (outputs and not shell.bp_clear_pending
                        and outputs[-1]["output_type"] == "stream"
                        and outputs[-1]["name"] == self.name):
                    outputs[-1]["text"] += text
                else:
                    add({"output_type": "stream", "name": self.name, "text": text})
            return len(text)

        def writelines(self, lines) -> None:
            for line in lines:
                self.write(line)

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

        def fileno(self) -> int:
            raise OSError("a cell's output stream has no file descriptor")

    def show_traceback(etype, evalue, stb) -> None:
        add({"output_type": "error", "ename": getattr(etype, "__name__", str(etype)),
             "evalue": str(evalue), "traceback": list(stb)})

    shell.displayhook = ResultHook(shell=shell, cache_size=shell.cache_size)
    shell.display_trap.hook = shell.displayhook
    shell.display_pub = Publisher(shell=shell)
    shell._showtraceback = show_traceback
    if "matplotlib.pyplot" in sys.modules or "matplotlib_inline.backend_inline" in sys.modules:
        # imported before the fork: the inline backend's import hook will not run here, so do
        # what it does (InteractiveShell.enable_matplotlib ends by asking for a GUI loop, which
        # a shell without a GUI cannot give)
        if os.environ.get("MPLBACKEND") == INLINE_BACKEND:
            from IPython.core.pylabtools import activate_matplotlib
            from matplotlib_inline.backend_inline import configure_inline_support

            activate_matplotlib(INLINE_BACKEND)
            configure_inline_support(shell, INLINE_BACKEND)
    elif "matplotlib" in sys.modules:
        sys.modules["matplotlib"].rcParams["backend"] = os.environ["MPLBACKEND"]
    streams = Stream("stdout"), Stream("stderr")

    def bp_run(source: str) -> dict:
        shell.bp_outputs = []
        shell.bp_clear_pending = False
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = streams
        try:
            result = shell.run_cell(source, store_history=True)
            status = "ok" if result.success else "error"
        except BaseException:  # not IPython's own handling: report it as the cell's error
            status = "error"
            error = sys.exc_info()[1]
            add(error_output(type(error).__name__, str(error))
                | {"traceback": traceback.format_exc().splitlines()})
        finally:
            sys.stdout, sys.stderr = saved
        return {"status": status, "outputs": shell.bp_outputs,
                "execution_count": shell.execution_count - 1}

    shell.bp_run = bp_run
    return shell
