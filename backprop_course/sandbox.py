"""A bubblewrap sandbox around every process that runs student code while grading.

While grading, a student's cells run in the answer server of :mod:`backprop_course.trusted`,
which :class:`~backprop_course.trusted.executor.TrustedExecute` (nbgrader's ``Execute`` step in
the course's ``nbgrader_config.py``, so plain ``nbgrader autograde`` and ``backprop-course
grade`` both use it) starts with :func:`sandboxed_command`. Inside the sandbox (``bwrap``,
Debian package ``bubblewrap``):

- the system (``/usr``, ``/lib*``, a few files of ``/etc``), the Python environment and the
  course's importable packages (:data:`KERNEL_PACKAGES`) are visible read-only; nothing else of
  the machine is: no ``solutions/``, ``source/``, gradebook, ``nbgrader_config.py``, other
  students' files, and not the autograded notebook itself (it holds the hidden tests);
- the working directory is an empty, size-limited tmpfs at the path of nbgrader's
  ``autograded/<student>/<assignment>`` folder, holding read-only only the data files the
  assignment itself ships; files a student submitted beside the notebook are never there;
- ``HOME`` (and ``IPYTHONDIR`` in it) and ``TMPDIR`` are private size-limited tmpfs: nothing
  persists from one run to the next;
- new user, PID, network, IPC, UTS and cgroup namespaces, all capabilities dropped, no nested
  user namespaces (``--disable-userns``), a new session (no terminal), killed with its parent;
  when the sandboxed process ends its PID namespace ends, and every process left in it is
  killed;
- no network: the answer server talks to the grader over its standard input and output;
- limits: ``RLIMIT_AS`` (memory), ``RLIMIT_FSIZE`` (size of one file), ``RLIMIT_CPU``,
  ``RLIMIT_NOFILE``, no core files (set with ``prlimit``), and a cap on processes plus threads
  through a ``pids`` cgroup. ``RLIMIT_NPROC`` cannot be that cap: it counts per real user and
  the kernel ignores it for root (measured here: 60 forks under ``prlimit --nproc=20`` as root
  all succeeded, a pids cgroup with ``pids.max`` 20 stopped the 18th);
- Python starts with ``PYTHONSAFEPATH=1`` (``-P``): the working directory is not on
  ``sys.path``, and IPython honours the flag too.

With warm starts (the default), the command this sandbox runs is a placeholder, and the answer
server is a fork of a pre-imported process that joins the sandbox's namespaces, root, limits and
cgroup, then drops every capability (:mod:`backprop_course.trusted.zygote`): it sees and may do
exactly what the command would.

:func:`require_sandbox` checks, before grading starts, that all of this can be set up here and
otherwise raises :class:`SandboxUnavailable` naming the fix. Grading without the sandbox takes
an explicit ``backprop-course grade --no-sandbox`` (or ``--TrustedExecute.sandbox=False`` on
nbgrader's command line).

This module's top level imports only the standard library and nbgrader.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import find_all_files

#: HOME inside the sandbox (a private tmpfs); IPython's profile and matplotlib's cache go there.
SANDBOX_HOME = "/home/student"
#: Packages the notebooks import that may live outside the environment (editable installs).
KERNEL_PACKAGES = ("backprop_kit", "backprop_grading", "backprop_experiments")
#: Files of /etc a Python process needs: the loader's cache, users and groups (getpass, pwd),
#: time zone, and /etc/alternatives where Debian points libblas & co.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "passwd",
             "group", "nsswitch.conf")
#: Variables of the grader's environment kept in the sandbox (everything else is dropped).
PASSED_ENVIRONMENT = ("LANG", "LC_ALL", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                      "MKL_NUM_THREADS", "NBGRADER_EXECUTION")
CGROUP_PREFIX = "backprop-sandbox"
FIX = ("install bubblewrap (`apt-get install bubblewrap`), allow user namespaces "
       "(sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0), and run the "
       "grader as root or with a writable pids cgroup; or grade WITHOUT isolation, at your own "
       "risk, with `backprop-course grade --no-sandbox` "
       "(`nbgrader autograde --TrustedExecute.sandbox=False`)")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be created on this machine; grading must not go on without it."""


@dataclass(frozen=True)
class SandboxLimits:
    """What the processes in one sandbox may use.

    Attributes
    ----------
    memory_bytes : int or None
        Address space of each process (``RLIMIT_AS``).
    processes : int or None
        Processes plus threads of the whole sandbox (``pids.max`` of its cgroup). A Python process
        with numpy's single-threaded BLAS uses about 10.
    file_bytes : int
        Largest file a process may write (``RLIMIT_FSIZE``).
    tmpfs_bytes : int
        Size of each private tmpfs: the working directory, HOME and /tmp.
    cpu_seconds : int or None
        CPU time of each process (``RLIMIT_CPU``).
    open_files : int
        ``RLIMIT_NOFILE``.
    """

    memory_bytes: int | None = 4 * 2**30
    processes: int | None = 128
    file_bytes: int = 256 * 2**20
    tmpfs_bytes: int = 512 * 2**20
    cpu_seconds: int | None = 3600
    open_files: int = 1024


def sandboxed_command(argv: Sequence[str], *, workdir: str | os.PathLike,
                      files: Iterable[str | os.PathLike] = (),
                      readable: Iterable[str | os.PathLike] = (),
                      home_files: Mapping[str, str | os.PathLike] | None = None,
                      limits: SandboxLimits = SandboxLimits(),
                      cgroup: PidsCgroup | None = None) -> list[str]:
    """The command line that runs ``argv`` inside the sandbox.

    Parameters
    ----------
    argv : sequence of str
        The command; ``argv[0]`` an absolute path. The environment it lives in (``argv[0]``'s
        prefix, before and after resolving links) is made readable.
    workdir : path
        Absolute path of the working directory inside: an empty tmpfs of
        ``limits.tmpfs_bytes`` there.
    files : paths
        Files under ``workdir`` on the host that appear, read-only, at the same place inside.
    readable : paths
        More files or folders visible read-only at their own paths (besides the system, the
        environment and :data:`KERNEL_PACKAGES`).
    home_files : mapping, optional
        Path relative to the private HOME -> file on the host, shown read-only there; the
        folders above it are the sandbox's own, writable (:func:`matplotlib_font_list`).
    limits : SandboxLimits
    cgroup : PidsCgroup, optional
        The command joins it before anything runs; required when ``limits.processes`` is set.

    Returns
    -------
    list of str
        ``[sh, -c, join the cgroup, prlimit ..., bwrap ..., *argv]``.
    """
    if not os.path.isabs(argv[0]):
        raise ValueError(f"the sandboxed command must start with an absolute path, got {argv[0]!r}")
    if limits.processes is not None and cgroup is None:
        raise ValueError("limits.processes is set, so a PidsCgroup is needed (PidsCgroup.create)")
    workdir = os.path.abspath(workdir)
    mounts: list[tuple[str, list[str]]] = []  # (destination, bwrap arguments), sorted below
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            mounts.append((path, ["--symlink", os.readlink(path), path]))
        elif os.path.isdir(path):
            mounts.append((path, ["--ro-bind", path, path]))
    mounts.append(("/usr", ["--ro-bind", "/usr", "/usr"]))
    mounts += [(f"/etc/{name}", ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"])
               for name in ETC_FILES]
    size = str(limits.tmpfs_bytes)
    for private in ("/tmp", SANDBOX_HOME, workdir):
        mounts.append((private, ["--perms", "0700", "--size", size, "--tmpfs", private]))
    for path in _minimal_roots([*_environment_of(argv[0]), *_package_dirs(), *readable]):
        mounts.append((path, ["--ro-bind", path, path]))
    for path in map(os.path.abspath, files):
        if os.path.commonpath([path, workdir]) != workdir:
            raise ValueError(f"files must lie under the working directory {workdir}, got {path}")
        mounts.append((path, ["--ro-bind", path, path]))
    for relative, source in (home_files or {}).items():
        inside = os.path.normpath(os.path.join(SANDBOX_HOME, relative))
        if os.path.isabs(relative) or os.path.commonpath([inside, SANDBOX_HOME]) != SANDBOX_HOME:
            raise ValueError(f"home_files must name paths inside HOME, got {relative!r}")
        mounts.append((inside, ["--ro-bind", os.path.abspath(source), inside]))
    mounts.sort(key=lambda mount: mount[0].count("/"))  # a folder before what is mounted in it
    inside = sandbox_environment(os.environ, argv[0])
    bwrap = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user",
             "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             "--proc", "/proc", "--dev", "/dev",
             *(arg for _, args in mounts for arg in args),
             "--remount-ro", "/",  # the folders bwrap made for the mounts: no unlimited tmpfs
             "--chdir", workdir, "--clearenv",
             *(arg for key, value in sorted(inside.items()) for arg in ("--setenv", key, value)),
             "--", *argv]
    rlimits = [f"--{name}={value}" for name, value in (
        ("nofile", _capped(resource.RLIMIT_NOFILE, limits.open_files)),
        ("fsize", _capped(resource.RLIMIT_FSIZE, limits.file_bytes)),
        ("core", 0),
        ("as", _capped(resource.RLIMIT_AS, limits.memory_bytes)),
        ("cpu", _capped(resource.RLIMIT_CPU, limits.cpu_seconds))) if value is not None]
    command = [shutil.which("prlimit") or "prlimit", *rlimits, "--", *bwrap]
    if cgroup is None:
        return command
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup.path / "cgroup.procs"),
            *command]


@functools.cache
def matplotlib_font_list() -> dict[str, str]:
    """matplotlib's list of the machine's fonts, for :func:`sandboxed_command`'s ``home_files``.

    matplotlib keeps that list in its cache folder under HOME; in a sandbox's empty HOME every
    process that imports pyplot would search the system's fonts again (0.2 s here, and a
    fontconfig error on stderr). The list is written once per process (the grading process,
    before it forks) from the fonts matplotlib found here, into a folder removed when this
    process exits. Empty when matplotlib is not installed.

    Returns
    -------
    dict
        ``{".cache/matplotlib/fontlist-v<version>.json": file}``, or ``{}``.
    """
    try:
        from matplotlib import font_manager
    except ImportError:
        return {}
    folder = tempfile.mkdtemp(prefix="bk-fontlist-")
    creator = os.getpid()
    atexit.register(lambda: os.getpid() == creator and shutil.rmtree(folder, True))
    name = f"fontlist-v{font_manager.FontManager.__version__}.json"
    font_manager.json_dump(font_manager.fontManager, os.path.join(folder, name))
    return {f".cache/matplotlib/{name}": os.path.join(folder, name)}


def _capped(which: int, value: int | None) -> int | None:
    """``value`` lowered to this process's hard limit ``which`` (None: keep the inherited one),
    since an unprivileged process cannot raise a hard limit."""
    hard = resource.getrlimit(which)[1]
    if value is None or hard == resource.RLIM_INFINITY:
        return value
    return min(value, hard)


def sandbox_environment(outside: Mapping[str, str], python: str = sys.executable) -> dict[str, str]:
    """The environment in the sandbox: :data:`PASSED_ENVIRONMENT` from ``outside``, plus a private
    HOME, TMPDIR, IPYTHONDIR, a PATH with ``python``'s folder, and ``PYTHONSAFEPATH=1``."""
    env = {key: outside[key] for key in PASSED_ENVIRONMENT if key in outside}
    env.update({
        "HOME": SANDBOX_HOME, "TMPDIR": "/tmp", "IPYTHONDIR": f"{SANDBOX_HOME}/.ipython",
        "PATH": os.pathsep.join([os.path.dirname(python), "/usr/local/bin", "/usr/bin", "/bin"]),
        "PYTHONSAFEPATH": "1", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
    })
    env.setdefault("LANG", "C.UTF-8")
    return env


def _environment_of(executable: str) -> list[str]:
    """The prefix of ``executable`` (``<prefix>/bin/python``) before and after resolving links."""
    return sorted({os.path.dirname(os.path.dirname(path))
                   for path in (os.path.abspath(executable), os.path.realpath(executable))})


@functools.cache
def _package_dirs() -> tuple[str, ...]:
    """Folders of :data:`KERNEL_PACKAGES` (in the repository for an editable install)."""
    found = []
    for name in KERNEL_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            found += [os.path.realpath(p) for p in spec.submodule_search_locations]
    return tuple(found)


def _minimal_roots(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Existing absolute paths, without those already inside another one of them."""
    unique = sorted({os.path.abspath(p) for p in paths if os.path.exists(p)})
    roots: list[str] = []
    for path in unique:
        if not any(os.path.commonpath([path, root]) == root for root in roots):
            roots.append(path)
    return roots


class PidsCgroup:
    """A fresh cgroup of the ``pids`` controller that caps processes plus threads.

    Made with :meth:`create`; :meth:`close` kills whatever is still in it and removes it.
    Its name carries the creating process's id, so that :meth:`remove_left_by` can clean up
    after a process that was killed before it could close its cgroups.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, limit: int) -> PidsCgroup:
        """A new cgroup with ``pids.max = limit``; :class:`SandboxUnavailable` if none can be
        made here."""
        parent = pids_hierarchy()
        if parent is None:
            raise SandboxUnavailable("no writable pids cgroup on this machine, so the number of "
                                     "processes of a sandbox cannot be capped (RLIMIT_NPROC "
                                     f"does not hold for root); {FIX}")
        path = parent / f"{CGROUP_PREFIX}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
        except OSError as error:
            shutil.rmtree(path, ignore_errors=True)
            raise SandboxUnavailable(f"could not create the pids cgroup {path}: {error}; "
                                     f"{FIX}") from None
        return cls(path)

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def close(self) -> None:
        """SIGKILL every process in the cgroup, then remove it (within about 3 s)."""
        for _ in range(1000):  # killed processes leave within a millisecond or two
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.002)
        for _ in range(500):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # the killed processes are not reaped yet
                time.sleep(0.002)

    @classmethod
    def remove_left_by(cls, pid: int) -> None:
        """Close every cgroup that process ``pid`` created and did not close."""
        parent = pids_hierarchy()
        if parent is not None:
            for path in parent.glob(f"{CGROUP_PREFIX}-{pid}-*"):
                cls(path).close()


@functools.cache
def pids_hierarchy() -> Path | None:
    """A folder where this process can make cgroups with ``pids.max``: cgroup v1's pids
    hierarchy, or a cgroup v2 mount whose pids controller is enabled for children."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        _, where, kind, options, *_ = line.split()
        root = Path(where)
        v1 = kind == "cgroup" and "pids" in options.split(",")
        v2 = kind == "cgroup2" and "pids" in _read(root / "cgroup.subtree_control").split()
        if (v1 or v2) and os.access(root, os.W_OK):
            return root
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def require_sandbox(limits: SandboxLimits = SandboxLimits()) -> None:
    """Raise :class:`SandboxUnavailable`, naming the fix, unless a sandbox works here.

    Runs ``python -c pass`` in a sandbox like the answer server's (about 0.1 s).
    """
    missing = [tool for tool in ("bwrap", "prlimit") if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(f"{' and '.join(missing)} not found on PATH: grading runs "
                                 f"student code only inside a sandbox; {FIX}")
    cgroup = PidsCgroup.create(limits.processes) if limits.processes is not None else None
    try:
        with tempfile.TemporaryDirectory(prefix="bk-sandbox-check-") as workdir:
            command = sandboxed_command([sys.executable, "-c", "pass"], workdir=workdir,
                                        limits=limits, cgroup=cgroup)
            try:
                run = subprocess.run(command, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise SandboxUnavailable(f"the sandbox did not start ({error}); {FIX}") from None
    finally:
        if cgroup is not None:
            cgroup.close()
    if run.returncode != 0:
        raise SandboxUnavailable(f"the sandbox did not start (exit code {run.returncode}: "
                                 f"{run.stderr.strip()[-500:]}); {FIX}")
    _working.add(limits)


#: The limits under which :func:`require_sandbox` succeeded in this process, or in the process
#: it was forked from before the fork.
_working: set[SandboxLimits] = set()


def require_sandbox_once(limits: SandboxLimits | None = None) -> None:
    """:func:`require_sandbox` unless it has succeeded here already: under ``limits``, or under
    any limits when ``limits`` is None (the check's question is then only whether bubblewrap
    works here). A grading process forked after the coordinator's check does not check again."""
    if (limits is None and _working) or limits in _working:
        return
    require_sandbox(limits or SandboxLimits())


def shipped_files(coursedir: CourseDirectory, assignment: str,
                  workdir: str | os.PathLike) -> list[str]:
    """Files of ``workdir`` that the assignment itself ships: those nbgrader copies there from
    the source folder (every file but notebooks and ``CourseDirectory.ignore`` globs)."""
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    return [str(Path(workdir) / name) for name in shipped_names(source, coursedir.ignore)
            if (Path(workdir) / name).is_file()]


def shipped_names(folder: str | os.PathLike, ignore: Sequence[str]) -> list[str]:
    """Paths, relative to ``folder``, of its files but notebooks and ``ignore`` globs, as
    nbgrader lists the files it copies (none when ``folder`` does not exist)."""
    return sorted(os.path.relpath(path, folder)
                  for path in find_all_files(str(folder), [*ignore, "*.ipynb"]))
