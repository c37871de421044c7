"""The trusted kernel's end of the channel: the answer server's process, stand-ins, callbacks.

The executor (:mod:`.executor`) runs every test cell and every locked cell in an ordinary
Jupyter kernel that never receives student code. In that kernel this module

- starts the answer server (:func:`server_command`: through ``backprop_course.sandbox`` when
  that module exists, else ``python -P``) and tells it which kit functions to forward;
- runs the student's cells there, on the executor's request (:func:`run_cell`), and hands
  their outputs back to the executor as one display of type :data:`MIME`;
- before each cell, binds the student's global names into the kernel's namespace as
  :class:`StandIn` objects (functions, classes, instances: every use is a request to the
  answer server) or as copies of plain data; names a trusted cell defined stay the trusted ones;
- serves the answer server's requests while a call is under way: a test's helper function
  passed to the student's function (``callback``), and a forwarded kit function
  (``kit_call``). A kit function that the running ``call(..., forbid=...)`` forbids is refused
  and the call fails with "delegation detected": this evidence is produced here, whatever the
  student's process does (threads, copied code objects), because the forbidden code does not
  exist there.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from backprop_grading.delegation import delegation_failure, forbidden_now

from . import answer_server, wire
from .channel import Channel, error_reply, outcome, perform
from .forbid import forbidden_functions

MIME = "application/x-backprop-student-cell+json"
TRUSTED_DIR = Path(__file__).resolve().parent

_session: Session | None = None


def server_command(workdir: str, sandbox: dict | None) -> list[str]:
    """The command that starts the answer server in ``workdir``.

    With ``sandbox`` (``{"files": [...], "cgroup": path or None, "limits": {...}}``, made by
    the executor, which owns the cgroup and closes it), :func:`backprop_course.sandbox.
    sandboxed_command` wraps it (bubblewrap: no network, no course files, only the shipped
    ``files`` beside it, limits); with None it is a plain ``python -P`` child process.
    """
    argv = [sys.executable, "-P", "-c", answer_server.BOOTSTRAP, str(TRUSTED_DIR)]
    if sandbox is None:
        return argv
    from backprop_course.sandbox import PidsCgroup, SandboxLimits, sandboxed_command

    cgroup = PidsCgroup(Path(sandbox["cgroup"])) if sandbox.get("cgroup") else None
    return sandboxed_command(argv, workdir=workdir, files=sandbox.get("files", ()),
                             readable=(str(TRUSTED_DIR),), cgroup=cgroup,
                             limits=SandboxLimits(**sandbox["limits"]))


class StandIn:
    """The trusted side's view of a function, class or object of the student's process."""

    #: ``call(..., forbid=(student_function,))`` cannot watch the student's process from here.
    __forbid_elsewhere__ = True

    def __init__(self, session: Session, tree: dict) -> None:
        name = str(tree.get("name", "object"))
        object.__setattr__(self, "_bp_session", session)
        object.__setattr__(self, "_bp_tree", tree)
        object.__setattr__(self, "__name__", name)
        object.__setattr__(self, "__qualname__", name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._bp_session.call(self, args, kwargs)

    def __getattr__(self, name: str) -> object:
        if name.startswith("_bp_"):
            raise AttributeError(name)
        return self._bp_session.call(getattr, (self, name), {}, op="getattr")

    def __setattr__(self, name: str, value: object) -> None:
        self._bp_session.call(setattr, (self, name, value), {}, op="setattr")

    def __repr__(self) -> str:
        return str(self._bp_tree.get("repr", "<student object>"))

    @property
    def __dict__(self) -> dict:  # vars(stand_in): a copy of the student object's attributes
        return self.__getattr__("__dict__")

    def __len__(self) -> int:
        return self.__getattr__("__len__")()

    def __getitem__(self, key: object) -> object:
        return self.__getattr__("__getitem__")(key)

    def __setitem__(self, key: object, value: object) -> None:
        self.__getattr__("__setitem__")(key, value)

    def __iter__(self):
        return iter(self.__getattr__("__iter__")())


class Session:
    """The answer server's process and everything the trusted side keeps about it.

    Parameters
    ----------
    workdir : str
        The submission's folder (the server's working directory).
    sandbox : dict or None
        Start the server inside the bubblewrap sandbox (:func:`server_command`).
    trusted_sources : list of str
        The instructor's setup and test cells: their ``forbid=`` arguments decide which kit
        functions the server forwards (see :mod:`.forbid`).
    """

    def __init__(self, workdir: str, trusted_sources: list[str], sandbox: dict | None) -> None:
        self.kit = {answer_server.function_key(f): f
                    for f in forbidden_functions(trusted_sources)}
        self.callbacks: dict[int, object] = {}
        self.stand_ins: dict[int, StandIn] = {}
        self.student_names: set[str] = set()
        self.bound: dict[str, object] = {}
        self.delegated: str | None = None
        self.broken: str | None = None
        self.depth = 0  # requests under way (a test's callback may call the student again)
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(server_command(workdir, sandbox), cwd=workdir,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log)
        codec = wire.Codec(self.handle_for, self.resolve_handle, track_identity=True)
        self.channel = Channel(self.process.stdout, self.process.stdin, codec, self.serve)
        stubbed = self.request({"op": "start", "forbid": sorted(self.kit)})
        missing = set(self.kit) - set(outcome(stubbed, (), {}))
        if missing:
            raise RuntimeError(f"the answer server could not forward {sorted(missing)}")

    # ------------------------------------------------------------------------ handles
    def handle_for(self, obj: object) -> dict:
        if isinstance(obj, StandIn):
            return {"$": "handle", "side": "server", "id": obj._bp_tree["id"]}
        if not callable(obj):
            raise TypeError(f"a {type(obj).__name__} cannot be given to the student's code: "
                            f"only plain data, kit objects and functions cross the channel")
        self.callbacks.setdefault(id(obj), obj)
        return {"$": "handle", "side": "trusted", "id": id(obj),
                "name": str(getattr(obj, "__name__", "function"))}

    def resolve_handle(self, tree: dict) -> object:
        handle = tree.get("id")
        if tree.get("side") == "server" and type(handle) is int:
            if handle not in self.stand_ins:
                self.stand_ins[handle] = StandIn(self, tree)
            return self.stand_ins[handle]
        if tree.get("side") == "trusted" and handle in self.callbacks:
            return self.callbacks[handle]
        raise wire.WireError(f"unknown handle {tree!r}")

    # ------------------------------------------------------------------------ requests
    def request(self, message: dict) -> dict:
        """Send a request and return the reply; a broken channel stops the session for good."""
        if self.broken:
            raise RuntimeError(self.broken)
        self.depth += 1
        try:
            data = self.channel.codec.dumps(message)  # an argument that cannot travel fails here
            try:
                reply = self.channel.request(data)
            except BaseException as error:  # interrupted at a timeout, a dead or lying server
                self.broken = (f"the student's process stopped answering "
                               f"({type(error).__name__}: {error}); later cells cannot use the "
                               f"student's code")
                self.process.kill()
                raise RuntimeError(self.broken) from error
        finally:
            self.depth -= 1
            if not self.depth:
                self.channel.codec.forget()
        sys.stdout.write(str(reply.get("stdout", "")))
        sys.stderr.write(str(reply.get("stderr", "")))
        return reply

    def call(self, target: object, args: tuple, kwargs: dict, op: str = "call") -> object:
        """Run ``target(*args, **kwargs)`` (or getattr/setattr) in the student's process."""
        self.delegated = None
        if op == "call":
            message = {"op": op, "target": target, "args": args, "kwargs": kwargs}
        else:
            message = {"op": op, "target": args[0], "name": args[1],
                       **({"value": args[2]} if op == "setattr" else {})}
        reply = self.request(message)
        if self.delegated is not None:
            raise delegation_failure(self.delegated)
        return outcome(reply, args if op == "call" else (), kwargs)

    def serve(self, request: dict) -> dict:
        """Requests from the student's process while a call runs; never raises."""
        try:
            if request["op"] == "callback":
                target = request["target"]
                if not any(target is known for known in self.callbacks.values()):
                    raise ValueError("callback to an unknown function")
                return perform(target, request["args"], request["kwargs"])
            if request["op"] == "kit_call":
                function = self.kit[request["key"]]
                forbidden = forbidden_now().get(id(function.__code__))
                if forbidden is not None:
                    self.delegated = forbidden[1]
                    return error_reply(delegation_failure(forbidden[1]))
                return perform(function, request["args"], request["kwargs"])
            raise ValueError(f"unknown request {request['op']!r}")
        except Exception as error:
            return error_reply(error)

    # ------------------------------------------------------------------------ cells
    def run(self, source: str, student: bool) -> dict:
        """Run a cell in the student's process; ``student`` cells' new names get stand-ins."""
        result = outcome(self.request({"op": "run", "source": source}), (), {})
        if student:
            self.student_names.update(result["changed"])
        return result

    def bind(self, namespace: dict) -> None:
        """Bind the student's names that no trusted cell has defined into ``namespace``."""
        if not self.student_names:
            return
        values = outcome(self.request({"op": "globals", "names": sorted(self.student_names)}),
                         (), {})
        for name, value in values.items():
            if name not in namespace or namespace[name] is self.bound.get(name, namespace):
                namespace[name] = self.bound[name] = value


def start(workdir: str, trusted_sources: list[str], sandbox: dict | None) -> None:
    """Start the session of this kernel and bind stand-ins before every later cell."""
    global _session
    from IPython import get_ipython

    _session = Session(workdir, trusted_sources, sandbox)
    shell = get_ipython()

    def before_cell(info: object) -> None:
        if not str(getattr(info, "raw_cell", "")).startswith(MARKER):
            _session.bind(shell.user_ns)

    shell.events.register("pre_run_cell", before_cell)


def run_cell(source: str, student: bool) -> None:
    """Run a cell in the student's process and display its outputs for the executor."""
    from IPython.display import publish_display_data

    if _session is None:
        raise RuntimeError("the trusted executor's session was not started")
    result = _session.run(source, student)
    publish_display_data({MIME: {"outputs": result["outputs"], "count": result["count"]}})


#: Every cell the executor itself sends to the trusted kernel starts with this line.
MARKER = "# backprop trusted executor\n"
