"""The trusted side's end of the channel: the answer server's process, stand-ins, callbacks.

The executor (:mod:`.executor`) runs every test cell and every locked cell in a trusted IPython
shell (:mod:`.trusted_shell`, a child forked for one notebook) that never receives student
code. In that shell this module

- starts the answer server (:func:`server_command`: through ``backprop_course.sandbox``, or as
  a plain ``python -P`` child without the sandbox) and tells it which functions to forward;
- runs the student's cells there, on the executor's request (:func:`run_cell`), and hands
  their outputs back to the executor (untrusted data, which the executor checks);
- before each cell, binds the student's global names into the shell's namespace as
  :class:`StandIn` objects (functions, classes, instances: every use is a request to the
  answer server) or as copies of plain data; names a trusted cell defined stay the trusted ones;
- gives the student's code handles, never copies, for the test's own objects (instances of
  classes that a trusted cell defined): the student's process reads and sets their public
  attributes here, one request each (``_``-names are refused), so a graph of ``Value`` nodes
  mixes nodes of both sides and each node lives where it was made;
- forwards the methods a student's cell added to a class of the instructor's setup
  (``Value.__add__ = value_add``) from the trusted copy of that class, so that ``x * y`` in a
  test runs the student's operator (:meth:`Session.mirror_methods`); what the instructor's
  cells defined on the class is never replaced;
- serves the answer server's requests while a call is under way: a test's helper function
  passed to the student's function (``callback``), and a forwarded kit function
  (``kit_call``). A kit function that the running ``call(..., forbid=...)`` forbids is refused
  and the call fails with "delegation detected": this evidence is produced here, whatever the
  student's process does (threads, copied code objects), because the forbidden code does not
  exist there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

from backprop_grading.delegation import delegation_failure, forbidden_now

from . import answer_server, wire, zygote
from .answer_server import OPERATORS, notebook_classes
from .channel import Channel, error_reply, outcome, perform
from .forbid import forwarded_functions

TRUSTED_DIR = Path(__file__).resolve().parent

_session: Session | None = None


def server_command(workdir: str, sandbox: dict | None,
                   argv: list[str] | None = None) -> list[str]:
    """The command that starts the answer server (or runs ``argv``) in ``workdir``.

    With ``sandbox`` (``{"files": [...], "cgroup": path or None, "limits": {...}}``, made by
    the executor, which owns the cgroup and closes it), :func:`backprop_course.sandbox.
    sandboxed_command` wraps it (bubblewrap: no network, no course files, only the shipped
    ``files`` beside it, limits); with None it is a plain ``python -P`` child process.
    """
    argv = argv or [sys.executable, "-P", "-c", answer_server.BOOTSTRAP, str(TRUSTED_DIR)]
    if sandbox is None:
        return argv
    from backprop_course.sandbox import (
        PidsCgroup,
        SandboxLimits,
        matplotlib_font_list,
        sandboxed_command,
    )

    cgroup = PidsCgroup(Path(sandbox["cgroup"])) if sandbox.get("cgroup") else None
    return sandboxed_command(argv, workdir=workdir, files=sandbox.get("files", ()),
                             readable=(str(TRUSTED_DIR),), cgroup=cgroup,
                             home_files=matplotlib_font_list(),
                             limits=SandboxLimits(**sandbox["limits"]))


def start_server(workdir: str, sandbox: dict | None, log: BinaryIO
                 ) -> tuple[subprocess.Popen, BinaryIO, BinaryIO, bool]:
    """Start the answer server: warm, from the zygote, when ``sandbox`` names one, else cold.

    Returns
    -------
    process : Popen
        What to kill to end it: the sandbox (its outer ``bwrap``), or the plain process.
    reader, writer : binary streams
        The server's stdout and stdin.
    warm : bool
        Whether the zygote started it (see :mod:`.zygote`).
    """
    if sandbox is not None and sandbox.get("zygote"):
        command = server_command(workdir, sandbox,
                                 [sys.executable, "-S", "-P", "-c", zygote.PLACEHOLDER])
        placeholder = subprocess.Popen(command, cwd=workdir, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=log)
        to_server, from_server = os.pipe(), os.pipe()
        try:
            if placeholder.stdout.read(1) != b".":
                raise zygote.ZygoteError("the sandbox did not start")
            zygote.spawn(sandbox["zygote"], placeholder.pid, sandbox.get("cgroup"),
                         [to_server[0], from_server[1], log.fileno()])
        except zygote.ZygoteError as error:
            placeholder.kill()
            placeholder.wait()
            for fd in (*to_server, *from_server):
                os.close(fd)
            log.write(f"warm start failed, starting cold: {error}\n".encode())
        else:
            os.close(to_server[0])
            os.close(from_server[1])
            return (placeholder, os.fdopen(from_server[0], "rb"), os.fdopen(to_server[1], "wb"),
                    True)
    process = subprocess.Popen(server_command(workdir, sandbox), cwd=workdir,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    return process, process.stdout, process.stdin, False


#: Special attributes a stand-in asks the student's process for (its container protocol, and the
#: operators a class the notebook gives leaves to the student); any other ``__name__`` is not
#: looked up there.
ASKED_DUNDERS = frozenset({"__dict__", "__len__", "__getitem__", "__setitem__", "__iter__",
                           *OPERATORS})


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
        if name.startswith("_bp_") or (name.startswith("__") and name not in ASKED_DUNDERS):
            # numpy asks for __array_interface__ here: a dict from the student's process
            # would make numpy read this process's memory at an address the student chose
            raise AttributeError(name)
        return self._bp_session.call(getattr, (self, name), {}, op="getattr")

    def __setattr__(self, name: str, value: object) -> None:
        self._bp_session.call(setattr, (self, name, value), {}, op="setattr")

    def __repr__(self) -> str:
        cls = self.__class__
        if cls is not StandIn and cls.__repr__ is not object.__repr__:
            return cls.__repr__(self)
        return str(self._bp_tree.get("repr", "<student object>"))

    @property
    def __class__(self) -> type:
        """The trusted class of the same name as the student object's (``isinstance(out,
        Value)`` in a test), if a trusted cell defined one; else StandIn."""
        for name in self._bp_tree.get("classes") or ():
            cls = self._bp_session.namespace.get(str(name).rpartition(".")[2])
            if (isinstance(cls, type) and type(cls) is not StandIn
                    and cls.__qualname__ == name and cls.__module__ == "__main__"):
                return cls
        return StandIn

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

    def __bool__(self) -> bool:
        if self._bp_tree.get("kind") in ("function", "class"):
            return True
        cls = self.__class__
        if cls is StandIn:
            raise _not_computable(self, "bool()")
        if getattr(cls, "__bool__", None) is not None:
            return bool(cls.__bool__(self))
        return getattr(cls, "__len__", None) is None or cls.__len__(self) != 0


def _not_computable(stand_in: StandIn, what: str) -> TypeError:
    """The error for a test that computes with an object of a class only the student's code
    defines: its comparisons, arithmetic and truth would be the student's to decide (an
    ``err < tol`` that is always true), so they are refused, and the check fails."""
    return TypeError(f"{what} on {stand_in!r}: the student's code returned an object of its own "
                     "class, not a number, an array or an object of a class the notebook "
                     "gives; return plain numbers or numpy arrays")


def _stand_in_operator(name: str):
    def operator(self: StandIn, *args: object) -> object:
        cls = self.__class__
        if cls is StandIn:
            raise _not_computable(self, name)
        if getattr(cls, name, None) is not None:
            return getattr(cls, name)(self, *args)  # the trusted class's (or its forwarder)
        return self.__getattr__(name)(*args)

    operator.__name__ = name
    return operator


for _name in OPERATORS:
    setattr(StandIn, _name, _stand_in_operator(_name))


def _forwarding_method(function: StandIn, name: str):
    """A method of a trusted class that runs the student's ``function`` (self included)."""
    def method(self: object, *args: object, **kwargs: object) -> object:
        return function(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__bp_forwards__ = function
    return method


class Session:
    """The answer server's process and everything the trusted side keeps about it.

    Parameters
    ----------
    workdir : str
        The submission's folder (the server's working directory).
    sandbox : dict or None
        Start the server inside the bubblewrap sandbox (:func:`server_command`).
    trusted_sources : list of str
        The instructor's setup and test cells: their ``forbid=`` arguments and their imports
        of ``backprop_experiments`` decide which functions the server forwards (see
        :mod:`.forbid`).
    """

    def __init__(self, workdir: str, trusted_sources: list[str], sandbox: dict | None) -> None:
        self.kit = {answer_server.function_key(f): f
                    for f in forwarded_functions(trusted_sources)}
        self.callbacks: dict[int, object] = {}
        self.stand_ins: dict[int, StandIn] = {}
        self.student_names: set[str] = set()
        self.bound: dict[str, object] = {}
        self.namespace: dict = {}  # the trusted shell's, from the first bind()
        self.delegated: str | None = None
        self.broken: str | None = None
        self.depth = 0  # requests under way (a test's callback may call the student again)
        self.log = tempfile.TemporaryFile()
        self.process, reader, writer, self.warm = start_server(workdir, sandbox, self.log)
        codec = wire.Codec(self.handle_for, self.resolve_handle, track_identity=True)
        self.channel = Channel(reader, writer, codec, self.serve)
        stubbed = self.request({"op": "start", "forbid": sorted(self.kit)})
        missing = set(self.kit) - set(outcome(stubbed, (), {}))
        if missing:
            raise RuntimeError(f"the answer server could not forward {sorted(missing)}")

    # ------------------------------------------------------------------------ handles
    def handle_for(self, obj: object) -> dict:
        if isinstance(obj, StandIn):
            return {"$": "handle", "side": "server", "id": obj._bp_tree["id"]}
        classes = [] if isinstance(obj, type) else notebook_classes(obj)
        if not (callable(obj) or classes):
            raise TypeError(f"a {type(obj).__name__} cannot be given to the student's code: "
                            f"only plain data, kit objects, functions and objects of the "
                            f"notebook's classes cross the channel")
        self.callbacks.setdefault(id(obj), obj)
        return {"$": "handle", "side": "trusted", "id": id(obj), "classes": classes,
                "name": str(getattr(obj, "__name__", type(obj).__name__))}

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
            if request["op"] in ("getattr", "setattr"):
                return self._attribute(request)
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

    def _attribute(self, request: dict) -> dict:
        """A public attribute of a test's object, read or set for the student's process."""
        target, name = request["target"], request["name"]
        if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")):
            raise AttributeError(f"the student's code may use only public attributes of the "
                                 f"test's objects, not {name!r}")
        if isinstance(target, type) or not notebook_classes(target) \
                or not any(target is known for known in self.callbacks.values()):
            raise AttributeError(f"{name!r}: only the attributes of the test's objects can be "
                                 f"used from the student's code")
        if request["op"] == "getattr":
            return perform(getattr, (target, name), {})
        return perform(setattr, (target, name, request["value"]), {})

    def mirror_methods(self) -> None:
        """Forward the functions the student's process stored in the instructor's classes.

        For each class a trusted cell defined, each public function or operator
        (:data:`~.answer_server.OPERATORS`) that the student's copy of the class holds and the
        trusted copy does not define itself becomes a method here that calls the student's
        function (with ``self`` a handle when it is a test's object).
        """
        classes = {name: cls for name, cls in self.namespace.items()
                   if isinstance(cls, type) and type(cls) is not StandIn
                   and cls.__module__ == "__main__" and not name.startswith("_")}
        if not classes:
            return
        found = outcome(self.request({"op": "methods", "classes": sorted(classes)}), (), {})
        for name, methods in found.items():
            cls = classes.get(name)
            for attr, function in methods.items() if cls is not None else ():
                own = vars(cls).get(attr)
                allowed = attr in OPERATORS or not attr.startswith("_")
                if allowed and isinstance(function, StandIn) and (
                        own is None or getattr(own, "__bp_forwards__", None) is not None):
                    if getattr(own, "__bp_forwards__", None) is not function:
                        setattr(cls, attr, _forwarding_method(function, attr))

    # ------------------------------------------------------------------------ cells
    def run(self, source: str, student: bool) -> dict:
        """Run a cell in the student's process; ``student`` cells' new names get stand-ins."""
        result = outcome(self.request({"op": "run", "source": source}), (), {})
        if student:
            self.student_names.update(result["changed"])
        return result

    def bind(self, namespace: dict) -> None:
        """Bind the student's names that no trusted cell has defined into ``namespace``."""
        self.namespace = namespace
        if not self.student_names:
            return
        self.mirror_methods()
        values = outcome(self.request({"op": "globals", "names": sorted(self.student_names)}),
                         (), {})
        for name, value in values.items():
            if name not in namespace or namespace[name] is self.bound.get(name, namespace):
                namespace[name] = self.bound[name] = value


def start(workdir: str, trusted_sources: list[str], sandbox: dict | None) -> None:
    """Start the session of this shell and bind stand-ins before every later cell it runs."""
    global _session
    from IPython import get_ipython

    _session = Session(workdir, trusted_sources, sandbox)
    shell = get_ipython()

    def before_cell(info: object) -> None:
        _session.bind(shell.user_ns)

    shell.events.register("pre_run_cell", before_cell)


def run_cell(source: str, student: bool) -> dict:
    """Run a cell in the student's process.

    Returns
    -------
    dict
        ``{"outputs": [...], "count": n}`` as the student's process sent them (untrusted: the
        executor keeps only well-formed outputs), for the executor (:mod:`.trusted_shell`).
    """
    if _session is None:
        raise RuntimeError("the trusted executor's session was not started")
    result = _session.run(source, student)
    return {"outputs": result["outputs"], "count": result["count"]}

