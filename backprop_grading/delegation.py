"""``call()``: run the student's function, catching warnings and delegation to the kit.

An exercise that asks for, say, a linear layer's backward pass must not be passed by a function
that calls the kit's own ``Linear.backward``. Patching the kit's module attributes would miss a
reference imported under another name, so :class:`DelegationWatch` installs a profile hook
(:func:`sys.setprofile`) for the duration of the call and compares the code object of every
Python function that starts running with the code objects of the forbidden functions: whatever
name the student reached them by, their code is the same object. The previous profiler is put
back afterwards.

This watch tells a student in Jupyter that the test forbids what their function used. It is
not what grading relies on: the student's process could switch it off (another thread, a copied
code object, ``sys.setprofile``). While grading, the student's function runs in the answer
server, where the forbidden functions' code does not exist (each is a stub that asks the trusted
side to run it), and the trusted side refuses, and reports, a forbidden function that
:func:`forbidden_now` names (backprop_course/trusted/kernel_side.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from sys import getprofile, setprofile
from types import CodeType, FrameType, FunctionType, MethodType

from .failures import GradingFailure, not_written
from .warnings_capture import warnings_as_notes


def _functions_of(item: object) -> list[FunctionType]:
    """The Python functions a ``forbid`` item stands for.

    A class stands for the methods it defines and those it inherits from *private* base
    classes (named ``_Something``), which exist only to be inherited: ``BatchNorm1d`` runs the
    ``forward`` of ``_BatchNorm``. Methods of public bases are not included, because other
    code uses them legitimately: forbidding ``CheckpointedSequential`` must not forbid the
    ``Sequential.forward`` of a student's blocks, nor ``Layer.zero_grad`` of every layer.
    """
    if getattr(type(item), "__forbid_elsewhere__", False):
        return []  # a student function seen from the trusted executor: it runs elsewhere
    if isinstance(item, type):
        functions = []
        for cls in item.__mro__:
            if cls is not item and not cls.__name__.startswith("_"):
                continue
            for value in vars(cls).values():
                if isinstance(value, property):
                    functions += [f for f in (value.fget, value.fset, value.fdel) if f is not None]
                else:
                    functions.append(getattr(value, "__func__", value))  # static/class methods
        return [f for f in functions if isinstance(f, FunctionType)]
    if isinstance(item, MethodType):
        item = item.__func__
    if isinstance(item, FunctionType):
        return [item]
    raise TypeError(f"forbid items must be Python functions, methods or classes, got "
                    f"{type(item).__name__} {item!r}: its calls cannot be traced")


def forbidden_functions(forbid: Iterable[object]) -> list[FunctionType]:
    """Every function a ``forbid`` iterable stands for, decorators unwrapped (``__wrapped__``).

    Unwrapping keeps the wrapper code that a decorator shares between many functions from being
    forbidden by mistake.

    Parameters
    ----------
    forbid : iterable
        Functions, methods (bound or not) and classes (all functions defined in the class body,
        including static and class methods and property accessors).
    """
    functions = []
    for item in forbid:
        for function in _functions_of(item):
            while isinstance(getattr(function, "__wrapped__", None), FunctionType):
                function = function.__wrapped__
            functions.append(function)
    return functions


def forbidden_code(forbid: Iterable[object]) -> dict[int, tuple[CodeType, str]]:
    """Map ``id(code)`` of every forbidden function to its code object and dotted name.

    Parameters
    ----------
    forbid : iterable
        As for :func:`forbidden_functions`.

    Returns
    -------
    dict
        ``id(code) -> (code, "backprop_kit.layers.linear.Linear.backward")``; the code object
        is kept so that its id cannot be reused while the dict lives.
    """
    return {id(f.__code__): (f.__code__, f"{f.__module__}.{f.__qualname__}")
            for f in forbidden_functions(forbid)}


def delegation_failure(name: str) -> GradingFailure:
    """The failure for a student function that ran the forbidden kit function ``name``."""
    return GradingFailure(
        f"delegation detected: your function called {name}, the kit's reference "
        f"implementation of what this exercise asks you to write. Implement it with "
        f"numpy operations.")


class DelegationWatch:
    """Context manager recording calls of forbidden code made in its block.

    Parameters
    ----------
    forbidden : dict
        From :func:`forbidden_code`.

    Attributes
    ----------
    called : str or None
        Dotted name of the first forbidden function that ran.
    """

    def __init__(self, forbidden: dict[int, tuple[CodeType, str]]) -> None:
        self.forbidden = forbidden
        self.called: str | None = None
        self._previous: Callable | None = None
        self._hook = self._on_event  # one bound method, to recognise it later

    def _on_event(self, frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            entry = self.forbidden.get(id(frame.f_code))
            if entry is not None and self.called is None:
                self.called = entry[1]

    def __enter__(self) -> DelegationWatch:
        self._previous = getprofile()
        setprofile(self._hook)
        return self

    def __exit__(self, *exc_info: object) -> None:
        setprofile(self._previous)

    def verdict(self) -> GradingFailure | None:
        """A delegation failure, or None."""
        return None if self.called is None else delegation_failure(self.called)


#: The forbidden code of the ``call()`` running now: the trusted executor's stand-ins read it
#: to refuse kit functions that the student's process asks the grading side to run.
_ACTIVE_FORBID: ContextVar[dict[int, tuple[CodeType, str]] | None] = ContextVar("forbid",
                                                                                 default=None)


def forbidden_now() -> dict[int, tuple[CodeType, str]]:
    """``id(code) -> (code, dotted name)`` forbidden by the ``call()`` running now ({} if none)."""
    return _ACTIVE_FORBID.get() or {}


def call(fn: Callable[..., object], *args: object, forbid: Iterable[object] = (),
         **kwargs: object) -> object:
    """Run the student's ``fn(*args, **kwargs)`` and return its result.

    Warnings it emits are printed to stdout as "note: your code emitted a warning: ..." (never
    to stderr, which would score the test cell zero). An exception it raises propagates
    unchanged, so the student sees their own traceback, except the blank of an exercise not
    written yet, which becomes a one-line failure saying so.

    Parameters
    ----------
    fn : callable
        The student's function.
    *args, **kwargs
        Its arguments.
    forbid : iterable of functions, methods or classes
        The kit's reference implementations of exactly what the exercise asks the student to
        write; calling any of them, under any name, fails the check.

    Returns
    -------
    object
        Whatever ``fn`` returned.

    Raises
    ------
    GradingFailure
        "delegation detected: your function called backprop_kit.xxx.yyy, ...".
    ExerciseNotWritten
        "exercise not written yet: replace `raise NotImplementedError()` in `f` with your
        code", when the function (or notebook code it calls) still raises the release's blank.
    TypeError
        When ``fn`` is not callable or a ``forbid`` item cannot be traced.
    """
    __tracebackhide__ = True  # IPython and pytest show the test cell's line, not this frame
    if not callable(fn):
        raise TypeError(f"call() needs the student's function as its first argument, got "
                        f"{type(fn).__name__} {fn!r}")
    watch = DelegationWatch(forbidden_code(forbid))
    active = _ACTIVE_FORBID.set(watch.forbidden)
    try:
        with warnings_as_notes(), watch:
            result = fn(*args, **kwargs)
    except BaseException as error:
        verdict = watch.verdict()
        if verdict is not None:
            raise verdict from error
        blank = not_written(error)
        if blank is not None:  # ending at the student's blank line, the helpers' frames hidden
            raise blank.with_traceback(error.__traceback__) from None
        raise
    finally:
        _ACTIVE_FORBID.reset(active)
    verdict = watch.verdict()
    if verdict is not None:
        raise verdict
    return result
