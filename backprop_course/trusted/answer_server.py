"""The answer server: runs the student's cells, inside the sandbox, and answers calls on them.

Started by :mod:`.kernel_side` (``python -P -c BOOTSTRAP DIR``, through the sandbox when there
is one); it talks over its stdin and stdout with the :mod:`.wire` format and never decides a
verdict. Everything here is under the student's control once their first cell has run: the
trusted side treats every reply as untrusted data.

Requests it serves:

- ``start``: replace the code of the kit functions that the notebook's tests forbid by a stub
  that forwards each call to the trusted side (``kit_call``). This happens before any student
  code runs, so the reference implementations' code never exists in this process: a thread, a
  copied code object or ``FunctionType(ref.__code__, ...)`` reaches the stub, and the trusted
  side sees the call.
- ``run``: run a cell with IPython (magics work), capture its outputs as notebook outputs, and
  report the global names it defined or changed.
- ``globals``: the values of some global names (plain data as copies, other objects as handles).
- ``call`` / ``getattr`` / ``setattr`` on a handle.
- ``methods``: the functions stored in some classes of the notebook (a student who completes the
  instructor's ``Value`` class with ``Value.__add__ = value_add``), so that the trusted side
  can forward the same operators on its own objects (see :mod:`.kernel_side`).

The test's own objects (instances of classes a trusted cell defined, e.g. ``Value(2.0)`` built by
a test) arrive here as handles: a :class:`CallbackProxy` reads and sets their public attributes
on the trusted side (``node.grad += 1`` changes the test's node), and claims the class of the
same name in this process, so that ``isinstance(node, Value)`` holds and ``node * other`` runs
this process's ``Value.__mul__`` on it.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import sys
from types import FunctionType, ModuleType

try:  # loaded by file path inside the sandbox, as a package module in tests
    from . import wire
    from .channel import Channel, error_reply, outcome, perform
except ImportError:
    import wire
    from channel import Channel, error_reply, outcome, perform

#: Operators that a handle's class may define: a proxy runs its class's method on itself.
OPERATORS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
             "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__",
             "__pos__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__")
#: Name of the forwarding function that the stubs find in their kit module's globals.
FORWARD = "__backprop_forward__"
STUB_FILENAME = "<forwarded to the trusted side>"


def function_key(function: FunctionType) -> str:
    """``module:qualname:first line``: names one kit function on both sides."""
    return f"{function.__module__}:{function.__qualname__}:{function.__code__.co_firstlineno}"


def kit_functions(module: ModuleType) -> list[FunctionType]:
    """The Python functions defined in a kit module: module level, in classes (nested classes,
    static and class methods, property accessors included)."""
    found: list[FunctionType] = []

    def visit(namespace: dict, owner: str) -> None:
        for value in namespace.values():
            if isinstance(value, property):
                candidates = [value.fget, value.fset, value.fdel]
            else:
                candidates = [getattr(value, "__func__", value)]
            for item in candidates:
                if isinstance(item, FunctionType) and item.__module__ == owner:
                    found.append(item)
                elif (isinstance(item, type) and item.__module__ == owner
                      and item.__qualname__.startswith(namespace.get("__qualname__", "")
                                                       or item.__qualname__)):
                    visit(dict(vars(item)), owner)

    visit(dict(vars(module)), module.__name__)
    return found


class AnswerServer:
    """State of the student's process: the shell, handles, stubs."""

    def __init__(self, reader, writer) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()
        self.outputs: list[dict] = []
        self._capture_shell_outputs()
        self.objects: dict[int, object] = {}   # handle id -> object
        self.ids: dict[int, int] = {}          # id(object) -> handle id
        self.proxies: dict[int, object] = {}   # trusted handle id -> callback proxy
        codec = wire.Codec(self.handle_for, self.resolve_handle, track_identity=True)
        self.channel = Channel(reader, writer, codec, self.serve)

    # ------------------------------------------------------------------------ handles
    def handle_for(self, obj: object) -> dict:
        """A handle for an object of the student's process (function, class, instance)."""
        if isinstance(obj, CallbackProxy):
            return {"$": "handle", "side": "trusted", "id": object.__getattribute__(obj, "_bp_id")}
        if isinstance(obj, Opaque):
            obj = obj.value
        if id(obj) not in self.ids:
            self.ids[id(obj)] = len(self.objects)
            self.objects[len(self.objects)] = obj
        kind = "class" if isinstance(obj, type) else "function" if callable(obj) else "object"
        try:
            text = repr(obj)[:200]
        except Exception:
            text = f"<{type(obj).__name__} object>"
        return {"$": "handle", "side": "server", "id": self.ids[id(obj)], "kind": kind,
                "name": str(getattr(obj, "__name__", type(obj).__name__)), "repr": text,
                "classes": notebook_classes(obj) if kind == "object" else []}

    def resolve_handle(self, tree: dict) -> object:
        handle = tree.get("id")
        if tree.get("side") == "trusted" and type(handle) is int:
            if handle not in self.proxies:
                self.proxies[handle] = CallbackProxy(self, handle, str(tree.get("name", "")),
                                                     tree.get("classes"))
            return self.proxies[handle]
        if tree.get("side") == "server" and handle in self.objects:
            return self.objects[handle]
        raise wire.WireError(f"unknown handle {tree!r}")

    # ------------------------------------------------------------------------ requests
    def serve(self, request: dict) -> dict:
        """The reply to one request; never raises (an error becomes a "raise" reply)."""
        method = getattr(self, "op_" + request["op"], None)
        if method is None:
            return error_reply(ValueError(f"unknown request {request['op']!r}"))
        stdout, stderr = sys.stdout, sys.stderr
        if request["op"] == "run":  # a cell's text becomes its outputs
            sys.stdout, sys.stderr = Streams(self, "stdout"), Streams(self, "stderr")
        else:  # a call's text is sent with the reply
            sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        try:
            reply = method(request)
        except Exception as error:
            reply = error_reply(error)
        finally:
            captured = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = stdout, stderr
        if isinstance(captured[0], io.StringIO):
            reply.update(stdout=captured[0].getvalue(), stderr=captured[1].getvalue())
        return reply

    def op_start(self, request: dict) -> dict:
        wanted = set(request["forbid"])
        stubbed = set()
        for name in sorted({key.split(":")[0] for key in wanted}):
            module = importlib.import_module(name)
            module.__dict__[FORWARD] = self.forward
            for function in kit_functions(module):
                key = function_key(function)
                if key in wanted:
                    _replace_code(function, key)
                    stubbed.add(key)
        return {"op": "return", "value": sorted(stubbed)}

    def forward(self, key: str, args: tuple, kwargs: dict) -> object:
        """What a stubbed kit function does: run on the trusted side."""
        reply = self.channel.request({"op": "kit_call", "key": key, "args": args,
                                      "kwargs": kwargs})
        return outcome(reply, args, kwargs)

    def op_run(self, request: dict) -> dict:
        namespace = self.shell.user_ns
        before = {name: id(value) for name, value in namespace.items()}
        self.outputs = []
        self.shell.run_cell(request["source"], store_history=True)
        for output in self.outputs:  # a stream's text was gathered in pieces (see Streams)
            if output.get("output_type") == "stream" and isinstance(output["text"], list):
                output["text"] = "".join(output["text"])
        changed = [name for name, value in namespace.items()
                   if not name.startswith("_") and before.get(name) != id(value)]
        return {"op": "return", "value": {"outputs": self.outputs, "changed": changed,
                                          "count": self.shell.execution_count - 1}}

    def op_globals(self, request: dict) -> dict:
        namespace = self.shell.user_ns
        values = {}
        for name in request["names"]:
            if name in namespace:
                value = namespace[name]
                try:
                    self.channel.codec.dumps(value)
                except (wire.WireError, TypeError, ValueError, RecursionError):
                    value = Opaque(value)
                values[name] = value
        return {"op": "return", "value": values}

    def op_methods(self, request: dict) -> dict:
        namespace = self.shell.user_ns
        found = {}
        for name in request["classes"]:
            cls = namespace.get(name)
            if isinstance(cls, type):
                found[name] = {attr: value for attr, value in vars(cls).items()
                               if isinstance(value, FunctionType)}
        return {"op": "return", "value": found}

    def op_call(self, request: dict) -> dict:
        from backprop_grading.warnings_capture import warnings_as_notes

        with warnings_as_notes():
            return perform(request["target"], request["args"], request["kwargs"])

    def op_getattr(self, request: dict) -> dict:
        return perform(getattr, (request["target"], request["name"]), {})

    def op_setattr(self, request: dict) -> dict:
        return perform(setattr, (request["target"], request["name"], request["value"]), {})

    # ------------------------------------------------------------------------ outputs
    def _capture_shell_outputs(self) -> None:
        """Record stream, display, result and error outputs of cells as notebook outputs."""
        from IPython.core.displayhook import DisplayHook
        from IPython.core.displaypub import DisplayPublisher

        server = self

        class ResultHook(DisplayHook):
            def start_displayhook(self) -> None:
                pass

            def write_output_prompt(self) -> None:
                pass

            def finish_displayhook(self) -> None:
                pass

            def write_format_data(self, format_dict, md_dict=None) -> None:
                server.outputs.append({"output_type": "execute_result", "data": format_dict,
                                       "metadata": md_dict or {},
                                       "execution_count": self.prompt_count})

        class Publisher(DisplayPublisher):
            def publish(self, data, metadata=None, **kwargs) -> None:
                server.outputs.append({"output_type": "display_data", "data": data,
                                       "metadata": metadata or {}})

        def show_traceback(etype, evalue, stb) -> None:
            server.outputs.append({"output_type": "error", "ename": etype.__name__,
                                   "evalue": str(evalue), "traceback": list(stb)})

        self.shell.displayhook = ResultHook(shell=self.shell, cache_size=self.shell.cache_size)
        self.shell.display_trap.hook = self.shell.displayhook  # what run_cell installs
        self.shell.display_pub = Publisher(shell=self.shell)
        self.shell._showtraceback = show_traceback
        self.shell.colors = "nocolor"
        # Plots: main() selects matplotlib's inline backend, which hooks itself into this shell
        # when a cell first imports pyplot (as in a Jupyter kernel); a notebook that never
        # plots never imports matplotlib.


class Streams:
    """sys.stdout / sys.stderr of a running cell: text becomes stream outputs, in order."""

    def __init__(self, server: AnswerServer, name: str) -> None:
        self.server, self.name = server, name

    def write(self, text: str) -> int:
        """Add ``text`` to the cell's last output when it is this stream's (a list of pieces,
        joined when the cell ends: thousands of prints stay linear), else start one."""
        outputs = self.server.outputs
        if outputs and outputs[-1].get("name") == self.name:
            outputs[-1]["text"].append(str(text))
        else:
            outputs.append({"output_type": "stream", "name": self.name, "text": [str(text)]})
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class Opaque:
    """A value that cannot travel as data: sent as a handle."""

    def __init__(self, value: object) -> None:
        self.value = value


def notebook_classes(obj: object) -> list[str]:
    """Qualified names of the classes of ``obj`` defined by a notebook cell, most derived first."""
    return [str(cls.__qualname__) for cls in type(obj).__mro__ if cls.__module__ == "__main__"]


class CallbackProxy:
    """A function or object of the trusted side (a test's helper, a test's ``Value``).

    Calling it runs it there; its public attributes are read and set there, one request each.
    It claims the first class of its object's that this process's notebook also defines (by
    name), so ``isinstance`` and the operators of :data:`OPERATORS` work as on a local object.
    """

    def __init__(self, server: AnswerServer, handle: int, name: str,
                 classes: object = None) -> None:
        object.__setattr__(self, "_bp_server", server)
        object.__setattr__(self, "_bp_id", handle)
        object.__setattr__(self, "_bp_classes", [str(c) for c in classes or []
                                                 if isinstance(c, str)])
        object.__setattr__(self, "__name__", name)

    def _bp_request(self, message: dict, args: tuple = (), kwargs: dict | None = None) -> object:
        server = object.__getattribute__(self, "_bp_server")
        return outcome(server.channel.request(message), args, kwargs or {})

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._bp_request({"op": "callback", "target": self, "args": args,
                                 "kwargs": kwargs}, args, kwargs)

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._bp_request({"op": "getattr", "target": self, "name": name})

    def __setattr__(self, name: str, value: object) -> None:
        self._bp_request({"op": "setattr", "target": self, "name": name, "value": value})

    @property
    def __class__(self) -> type:
        namespace = object.__getattribute__(self, "_bp_server").shell.user_ns
        for name in object.__getattribute__(self, "_bp_classes"):
            cls = namespace.get(name.rpartition(".")[2])
            if isinstance(cls, type) and cls.__qualname__ == name and cls.__module__ == "__main__":
                return cls
        return CallbackProxy

    def __repr__(self) -> str:
        cls = self.__class__
        if cls is not CallbackProxy and cls.__repr__ is not object.__repr__:
            return cls.__repr__(self)
        return f"<{object.__getattribute__(self, '__name__')} (lives on the grading side)>"


def _proxy_operator(name: str):
    def operator(self: CallbackProxy, *args: object) -> object:
        method = getattr(self.__class__, name, None)
        if method is None or self.__class__ is CallbackProxy:
            return NotImplemented
        return method(self, *args)

    operator.__name__ = name
    return operator


for _name in OPERATORS:
    setattr(CallbackProxy, _name, _proxy_operator(_name))


def _replace_code(function: FunctionType, key: str) -> None:
    """Make ``function`` forward every call to the trusted side, whatever name reaches it.

    The stub closes over as many variables as the original (``__class__`` of a method that
    calls ``super()``), since a function's code can only be swapped for one with the same number.
    """
    free = function.__code__.co_freevars
    source = (f"def outer({', '.join(free)}):\n"
              f"    def {function.__name__}(*args, **kwargs):\n"
              f"        ({''.join(name + ', ' for name in free)})\n"
              f"        return {FORWARD}({key!r}, args, kwargs)\n"
              f"    return {function.__name__}\n")
    namespace: dict = {}
    exec(compile(source, STUB_FILENAME, "exec"), namespace)
    function.__code__ = namespace["outer"](*free).__code__
    function.__defaults__ = None
    function.__kwdefaults__ = None


def main() -> None:
    """Serve requests on stdin/stdout until the trusted side closes the channel."""
    reader = os.fdopen(os.dup(0), "rb")
    writer = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray C-level output must not corrupt the channel
    inline = importlib.util.find_spec("matplotlib_inline") is not None
    os.environ["MPLBACKEND"] = ("module://matplotlib_inline.backend_inline" if inline
                                else os.environ.get("MPLBACKEND", "Agg"))
    server = AnswerServer(reader, writer)
    while True:
        try:
            request = server.channel.receive()
        except EOFError:
            return
        server.channel.send(server.serve(request))
        server.channel.codec.forget()


#: What ``python -P -c`` runs: put this folder first on sys.path, then serve.
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); import answer_server; "
             "answer_server.main()")
