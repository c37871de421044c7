"""Requests and replies over a pair of byte streams, with calls back the other way.

Either side sends a request (a dict with an ``"op"``) and waits for its reply (``op`` "return"
or "raise"); while it waits, the other side may send requests of its own (a student function
calling a function the test passed in, or a kit function that runs on the trusted side), which
are served by the ``serve`` function and answered before the wait goes on.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import BinaryIO

try:  # the answer server loads this file outside the package
    from .wire import Codec, WireError, exception_name, make_exception, write_back
except ImportError:
    from wire import Codec, WireError, exception_name, make_exception, write_back

#: Lines of the callee's traceback kept in an error reply.
TRACE_LINES = 12


class Channel:
    """One end of the channel.

    Parameters
    ----------
    reader, writer : binary streams
    codec : Codec
    serve : callable
        ``request dict -> reply dict`` for requests that arrive while this end waits; must not
        raise (see :func:`perform`).
    """

    def __init__(self, reader: BinaryIO, writer: BinaryIO, codec: Codec,
                 serve: Callable[[dict], dict]) -> None:
        self.reader = reader
        self.writer = writer
        self.codec = codec
        self.serve = serve
        self.lock = threading.RLock()

    def send(self, message: dict | bytes) -> None:
        """Send a message (or one already encoded with ``codec.dumps``)."""
        data = message if isinstance(message, bytes) else self.codec.dumps(message)
        with self.lock:
            self.writer.write(data)
            self.writer.flush()

    def receive(self) -> dict:
        message = self.codec.read(self.reader)
        if not (isinstance(message, dict) and isinstance(message.get("op"), str)):
            raise WireError(f"expected a request or reply, got {type(message).__name__}")
        return message

    def request(self, message: dict | bytes) -> dict:
        """Send ``message``, serve what arrives meanwhile, and return the reply."""
        with self.lock:
            self.send(message)
            while True:
                incoming = self.receive()
                if incoming["op"] in ("return", "raise"):
                    return incoming
                self.send(self.serve(incoming))


def where_raised(error: BaseException) -> str:
    """" (raised in f, line 3)": the last notebook frame of the traceback, else the innermost."""
    frames = list(traceback.walk_tb(error.__traceback__))
    in_notebook = [(f, n) for f, n in frames if f.f_globals.get("__name__") == "__main__"]
    if not frames:
        return ""
    frame, line = (in_notebook or frames)[-1]
    return f" (raised in {frame.f_code.co_name}, line {line})"


def error_reply(error: BaseException) -> dict:
    """The "raise" reply for an exception of the callee."""
    try:
        message = str(error)
    except Exception:  # an exception class whose __str__ fails
        message = ""
    name = exception_name(error)
    if name != type(error).__name__:
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
    trace = traceback.format_exception(error)[-TRACE_LINES:]
    return {"op": "raise", "type": name, "message": message, "where": where_raised(error),
            "trace": "".join(trace)}


def perform(function: Callable[..., object], args: tuple, kwargs: dict) -> dict:
    """Call ``function`` and make the reply: the value and the arguments as they are after."""
    try:
        value = function(*args, **kwargs)
    except Exception as error:
        return error_reply(error)
    return {"op": "return", "value": value, "args": args, "kwargs": kwargs}


def outcome(reply: dict, args: tuple, kwargs: dict) -> object:
    """Apply a reply to the caller's side: write changed arguments back, return or raise.

    Raises
    ------
    Exception
        The callee's exception as a builtin type (see :data:`wire.EXCEPTIONS`), with attribute
        ``raised_in`` (" (raised in f, line 3)") and the callee's traceback as a note.
    """
    if reply.get("op") == "raise":
        error = make_exception(str(reply.get("type")), str(reply.get("message", "")))
        error.raised_in = str(reply.get("where", ""))
        if reply.get("trace"):
            error.add_note(str(reply["trace"]))
        raise error
    fresh_args, fresh_kwargs = reply.get("args"), reply.get("kwargs")
    if isinstance(fresh_args, tuple) and len(fresh_args) == len(args):
        for before, after in zip(args, fresh_args, strict=True):
            write_back(before, after)
    if isinstance(fresh_kwargs, dict):
        for key, before in kwargs.items():
            if key in fresh_kwargs:
                write_back(before, fresh_kwargs[key])
    return reply.get("value")
