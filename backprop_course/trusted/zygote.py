"""Warm starts of the student's process: a pre-imported zygote forks it into a fresh sandbox.

A cold answer server spends most of its start importing numpy, IPython and matplotlib inside
the sandbox (about 0.9 s of CPU per notebook here). The zygote is a process of the grading
machine that has imported them once, and never runs student code. For each notebook:

1. the trusted side (:mod:`.kernel_side`) starts a *placeholder* in a fresh sandbox, with
   exactly the command line, mounts, namespaces and limits of a cold start
   (:func:`backprop_course.sandbox.sandboxed_command`); the placeholder only waits;
2. it hands the zygote the sandbox's process id and three pipe ends (the server's stdin,
   stdout and stderr) over a Unix socket in a folder only the grader can open;
3. a child of the zygote joins the placeholder's cgroup and namespaces (user, mount, PID,
   network, IPC, UTS, cgroup), takes its root, working directory, environment and resource
   limits, and forks: the grandchild is a new process of the sandbox's PID namespace, in a new
   session, with ``no_new_privs``, an empty bounding set and no capabilities. It checks all of
   that in ``/proc/self`` before it reports ready, closes every inherited file descriptor but
   the three pipes, reseeds ``random`` and numpy, and becomes the answer server.

What student code can reach is what a cold start gives it: the same namespaces (compared by
inode), files, limits and environment; ``tests/grading/test_zygote.py`` compares the two. The
zygote's memory that the fork copies holds libraries only: it never imports the course's kit
(whose reference implementations the answer server must never hold), reads no course file and
answers nothing but spawn requests. The student's process cannot reach the zygote: it lives
outside the sandbox's PID and mount namespaces and the student's process holds no descriptor
of it. When the sandbox ends (its placeholder is killed or exits), its PID namespace ends and
the answer server with it, as in a cold start; the zygote is the server's parent outside the
sandbox (a child subreaper) and reaps it.

Differences from a cold start that are not about confinement: the server is the sandbox's third
process (bwrap's init, the placeholder, the server), it leads its own session (no terminal, like
bwrap's), and matplotlib's configuration folder, which matplotlib reads once on import, is the
zygote's (outside the sandbox, so absent there: the defaults apply, as in an empty HOME).

Where the zygote cannot start or a spawn fails, the trusted side starts the answer server cold.

The zygote runs with only this folder on ``sys.path`` before the environment's: this module's
top level imports the standard library only.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Namespaces the student's process joins, the user namespaces first (see ``_enter``).
NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup")
#: Resource limits that ``prlimit`` sets on a sandbox (:func:`~backprop_course.sandbox.
#: sandboxed_command`), copied from the placeholder.
RLIMITS = ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_CORE")
#: Libraries the zygote imports once. Never the course's kit: its reference implementations'
#: code must not exist in the student's process. Never ``matplotlib_inline.backend_inline``: it
#: hooks into the shell of the process that imports it, which is made after the fork.
PRELOADED = ("numpy", "IPython.core.interactiveshell", "IPython.core.pylabtools",
             "IPython.display", "matplotlib", "matplotlib.pyplot", "matplotlib.figure",
             "matplotlib.backends.backend_agg", "answer_server")
#: The placeholder's program: it says it is ready, then waits until the trusted side is gone.
PLACEHOLDER = "import os; os.write(1, b'.'); os.read(0, 1)  # backprop-course placeholder"
#: Seconds a spawn may take before the zygote gives up on it.
SPAWN_SECONDS = 20.0
#: Seconds the grading side waits for a new zygote to be ready.
START_SECONDS = 120.0

_NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPABILITY_VERSION_3 = 0x20080522
_STATUS_ZERO = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")

_libc = ctypes.CDLL(None, use_errno=True)


class ZygoteError(RuntimeError):
    """A warm start failed; the answer server starts cold instead."""


# --------------------------------------------------------------------------------------------
# The zygote process
# --------------------------------------------------------------------------------------------

def serve(address: str) -> None:
    """The zygote's main loop: preload, listen on ``address``, spawn on each request, and exit
    when standard input closes (the grading process that started it is gone)."""
    _preload()
    # The answer servers' parent, once the child that forked each one exits, is this process:
    # it reaps them (otherwise the machine's init would, if it reaps at all).
    if _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        _raise_errno("prctl(PR_SET_CHILD_SUBREAPER)")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(address + ".new")
    listener.listen(64)
    os.rename(address + ".new", address)  # ready: the socket appears when it listens
    while True:
        readable, _, _ = select.select([listener, 0], [], [], 1.0)
        _reap()
        if 0 in readable and not os.read(0, 1):
            return
        if listener in readable:
            connection, _ = listener.accept()
            with connection:
                _answer(connection)


def _reap() -> None:
    """Reap every answer server that has ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _preload() -> None:
    """Import :data:`PRELOADED` and build mathtext's grammar (pure Python, slow to build).

    No figure is drawn here: matplotlib would keep fonts open in its caches, on descriptors
    that the answer server closes, and a later figure would read a closed font file."""
    import gc
    import importlib

    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # optional: the answer server imports what it needs itself
            pass
    try:
        from matplotlib import _mathtext, mathtext

        if mathtext.MathTextParser._parser is None:  # what its first parse() caches
            mathtext.MathTextParser._parser = _mathtext.Parser()
    except Exception:
        pass
    gc.collect()
    gc.freeze()  # the children's copies of these objects stay shared


def _answer(connection: socket.socket) -> None:
    """Serve one spawn request: JSON ``{"sandbox": pid}`` and three descriptors."""
    fds: list[int] = []
    sandbox = None
    try:
        message, fds, _, _ = socket.recv_fds(connection, 65536, 3)
        request = json.loads(message)
        sandbox = request.get("sandbox")
        if len(fds) != 3 or type(sandbox) is not int:
            raise ValueError("a spawn request is {'sandbox': pid} with 3 descriptors")
        reply = {"error": _spawn(sandbox, request.get("cgroup"), fds)}
    except Exception as error:
        reply = {"error": f"{type(error).__name__}: {error}"}
    finally:
        for fd in fds:
            os.close(fd)
    print(f"sandbox {sandbox}: {reply['error'] or 'answer server spawned'}", flush=True)
    try:
        connection.sendall(json.dumps(reply).encode())
    except OSError:
        pass


def _spawn(sandbox: int, cgroup: str | None, fds: list[int]) -> str | None:
    """Fork the answer server into the sandbox whose outer ``bwrap`` is ``sandbox``; None when it
    runs, else what went wrong."""
    status_read, status_write = os.pipe()
    child = os.fork()
    if child == 0:  # never returns: neither this child nor the one it forks
        try:
            os.close(status_read)
            _enter(sandbox, cgroup, fds, status_write)
        except BaseException as error:
            os.write(status_write, f"{type(error).__name__}: {error}".encode()[:4000])
        finally:
            os._exit(0)
    os.close(status_write)
    report = b""
    deadline = time.monotonic() + SPAWN_SECONDS
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([status_read], [], [], deadline - time.monotonic())
            chunk = os.read(status_read, 4096) if ready else b""
            if not chunk:
                break
            report += chunk
    finally:
        os.close(status_read)
        try:
            os.kill(child, 9)  # it has exited already unless something hung
        except ProcessLookupError:
            pass
        os.waitpid(child, 0)
    if report == b"ok":
        return None
    return report.decode(errors="replace") or "the student's process did not report"


def _enter(sandbox: int, cgroup: str | None, fds: list[int], status: int) -> None:
    """In the zygote's child: join the sandbox, fork the answer server there."""
    target = _only_child(_only_child(sandbox))  # outer bwrap -> bwrap (PID 1) -> placeholder
    if PLACEHOLDER.encode() not in Path(f"/proc/{target}/cmdline").read_bytes():
        raise ZygoteError(f"process {target} is not a sandbox's placeholder")
    # everything about the placeholder is read now: /proc of this machine is gone after setns
    namespaces = {name: os.open(f"/proc/{target}/ns/{name}", os.O_RDONLY)
                  for name in ("user", *NAMESPACES)}
    root = os.open(f"/proc/{target}/root", os.O_RDONLY | os.O_DIRECTORY)
    workdir = os.readlink(f"/proc/{target}/cwd")
    environment = dict(item.split("=", 1) for item in
                       Path(f"/proc/{target}/environ").read_text().split("\0") if "=" in item)
    limits = {name: resource.prlimit(target, getattr(resource, name)) for name in RLIMITS}
    expected = {name: os.fstat(fd).st_ino for name, fd in namespaces.items()}
    if cgroup:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
    # The mount namespace belongs to bwrap's first user namespace; with --disable-userns the
    # placeholder runs in a second one inside it, which the process can join only from there.
    owner = fcntl.ioctl(namespaces["mnt"], _NS_GET_USERNS)
    _setns(owner)
    for name in NAMESPACES:
        _setns(namespaces[name])
    if os.fstat(owner).st_ino != expected["user"]:
        _setns(namespaces["user"])
    os.fchdir(root)
    os.chroot(".")
    os.chdir(workdir)
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), value)
    if os.fork() == 0:  # the first process of this process's own making in the sandbox
        _become_answer_server(fds, environment, expected, status)
    os._exit(0)


def _become_answer_server(fds: list[int], environment: dict[str, str],
                          expected: dict[str, int], status: int) -> None:
    """In the sandbox: drop every privilege, check where this process is, serve."""
    os.setsid()
    _drop_privileges()
    _check_confined(expected)
    for number, fd in enumerate(fds):
        os.dup2(fd, number)
    os.write(status, b"ok")
    os.closerange(3, 2**31 - 1)  # the zygote's socket, the status pipe, anything inherited
    try:
        os.environ.clear()
        os.environ.update(environment)
        sys.argv = ["-c", os.path.dirname(os.path.abspath(__file__))]
        import random

        random.seed()
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed()
        import answer_server

        answer_server.main()
    except BaseException:  # as a cold server's would: the traceback goes to its log
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _drop_privileges() -> None:
    """no_new_privs, no bounding set, no ambient, no permitted or effective capabilities."""
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _raise_errno("prctl(PR_SET_NO_NEW_PRIVS)")
    for capability in range(64):
        _libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # EINVAL past the last one
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    if _libc.capset(ctypes.byref(Header(_CAPABILITY_VERSION_3, 0)), (Data * 2)()) != 0:
        _raise_errno("capset")


def _check_confined(expected: dict[str, int]) -> None:
    """Raise unless this process has no capability, ``no_new_privs``, and the sandbox's
    namespaces."""
    status = dict(line.split(":\t", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":\t" in line)
    wrong = [name for name in _STATUS_ZERO if int(status.get(name, "1"), 16) != 0]
    if status.get("NoNewPrivs", "").strip() != "1":
        wrong.append("NoNewPrivs")
    wrong += [name for name, inode in expected.items()
              if os.stat(f"/proc/self/ns/{name}").st_ino != inode]
    if wrong:
        raise ZygoteError(f"the spawned process is not confined: {', '.join(wrong)}")


def _only_child(pid: int) -> int:
    children = [int(child) for task in os.listdir(f"/proc/{pid}/task")
                for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    if len(children) != 1:
        raise ZygoteError(f"process {pid} has {len(children)} children, expected 1")
    return children[0]


def _setns(fd: int) -> None:
    if _libc.setns(fd, 0) != 0:
        _raise_errno("setns")


def _raise_errno(what: str) -> None:
    number = ctypes.get_errno()
    raise OSError(number, f"{what}: {os.strerror(number)}")


#: What ``python -P -c`` runs in the zygote: this folder first on sys.path, then serve.
BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); import zygote; zygote.serve(sys.argv[2])"


# --------------------------------------------------------------------------------------------
# The grading side
# --------------------------------------------------------------------------------------------

#: creating pid -> (zygote, its socket's address, its folder, when it must be ready by)
_started: dict[int, tuple[subprocess.Popen, str, str, float]] = {}


def start_zygote(wait: bool = True) -> str:
    """The socket of this process's zygote, started on the first call (forked children share
    their parent's). ``wait=False`` returns as soon as it is launched, so that it imports while
    this process goes on; a later call waits until it serves. Raises :class:`ZygoteError` when
    it cannot start."""
    for creator, (process, address, _, _) in list(_started.items()):
        if creator != os.getpid():
            # a forked child cannot poll its parent's child; the socket is there while it runs
            if os.path.exists(address):
                return address
        elif process.poll() is None:
            if wait:
                _wait_until_serving(creator)
            return address
    from backprop_course.sandbox import matplotlib_font_list, sandbox_environment

    folder = tempfile.mkdtemp(prefix="bk-zygote-")  # mode 0700: only the grader connects
    address = os.path.join(folder, "socket")
    environment = sandbox_environment(os.environ)
    font_list = next(iter(matplotlib_font_list().values()), None)
    environment.update(HOME=folder, TMPDIR=folder, IPYTHONDIR=os.path.join(folder, "ipython"))
    if font_list is not None:  # matplotlib's cache folder: the list made for the sandboxes
        environment["MPLCONFIGDIR"] = os.path.dirname(font_list)
    try:
        import importlib.util

        if importlib.util.find_spec("matplotlib_inline") is not None:
            environment["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    except (ImportError, ValueError):
        pass
    log = open(os.path.join(folder, "zygote.log"), "wb")
    with log:
        process = subprocess.Popen(
            [sys.executable, "-P", "-c", BOOTSTRAP, os.path.dirname(os.path.abspath(__file__)),
             address], stdin=subprocess.PIPE, stdout=log, stderr=log, env=environment,
            cwd=folder)
    creator = os.getpid()
    _started[creator] = (process, address, folder, time.monotonic() + START_SECONDS)
    atexit.register(_stop, creator, process, folder)
    if wait:
        _wait_until_serving(creator)
    return address


def _wait_until_serving(creator: int) -> None:
    """Wait for the zygote this process started to make its socket; stop it and raise
    :class:`ZygoteError` if it dies or misses its deadline first."""
    process, address, folder, deadline = _started[creator]
    while not os.path.exists(address):
        if process.poll() is not None or time.monotonic() > deadline:
            text = Path(folder, "zygote.log").read_text(errors="replace")[-2000:]
            _stop(creator, process, folder)
            raise ZygoteError(f"the zygote did not start: {text or 'no output'}")
        time.sleep(0.02)


def _stop(creator: int, process: subprocess.Popen, folder: str) -> None:
    if os.getpid() != creator:
        return
    process.kill()
    process.wait()
    shutil.rmtree(folder, ignore_errors=True)
    _started.pop(creator, None)


def spawn(address: str, sandbox: int, cgroup: str | None, fds: list[int]) -> None:
    """Ask the zygote at ``address`` for the answer server in the sandbox whose outer ``bwrap``
    has process id ``sandbox``, talking over ``fds`` (its stdin, stdout, stderr).

    Raises
    ------
    ZygoteError
        The zygote is gone or the spawn failed (the sandbox then holds no answer server).
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
            connection.settimeout(SPAWN_SECONDS + 10)
            connection.connect(address)
            socket.send_fds(connection, [json.dumps({"sandbox": sandbox,
                                                     "cgroup": cgroup}).encode()], fds)
            reply = json.loads(connection.recv(65536) or b"{}")
    except (OSError, ValueError) as error:
        raise ZygoteError(f"no answer from the zygote at {address}: {error}") from None
    if reply.get("error", "no reply") is not None:
        raise ZygoteError(str(reply.get("error", "no reply")))
