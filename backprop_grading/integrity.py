"""Tamper detection: has the notebook replaced anything the grading relies on?

At import (in the notebook's locked setup cell) the package takes a :class:`Snapshot`: the
watched numpy functions, built-ins and ``sys`` functions (see :mod:`.originals`), every
attribute of the grading modules, the code and default arguments of every grading function and
the contents of every grading class, and, inside IPython, the kernel attributes that turn an
exception or a returned score into a cell output. :func:`verify_integrity` compares the live
state with it, and also checks that the caller's global names ``check``, ``check_close``, ...,
``np`` still refer to the originals. Every public helper calls it before doing anything, and
inside IPython it also runs before every cell, so rebinding all the helpers at once is noticed
too.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import FunctionType, MethodType, ModuleType

import numpy

from .failures import TamperingDetected
from .originals import Captured, capture_references

_MISSING = object()

PACKAGE = "backprop_grading"
#: Global names a test cell uses; when the caller defines them they must be the originals.
HELPER_NAMES = ("check", "check_close", "check_shape", "call", "Rubric",
                "GradingFailure", "TamperingDetected")
#: Built-ins that a notebook global must not hide (names honest code often reuses, like
#: ``sum``, ``max`` or ``input``, are left out; patching them in ``builtins`` is still caught).
SHADOWED_BUILTINS = ("abs", "all", "any", "bool", "float", "int", "isinstance", "len",
                     "print", "AssertionError", "Exception", "__import__", "getattr")
NUMPY_NAMES = ("np", "numpy")
#: IPython shell attributes through which an error or a returned score becomes a cell output.
KERNEL_ATTRIBUTES = ("showtraceback", "_showtraceback", "showsyntaxerror", "custom_exceptions",
                     "CustomTB", "displayhook", "display_formatter", "events")


def tampering(what: str, fix: str = "remove that line and restart the kernel") -> TamperingDetected:
    """The exception for one finding, worded for the student."""
    return TamperingDetected(f"Tampering detected: {what}; {fix}")


@dataclass(frozen=True)
class FunctionState:
    """What can be changed on a function object without rebinding its name."""

    label: str
    function: FunctionType
    code: object
    defaults: tuple | None
    kwdefaults: dict | None

    @classmethod
    def of(cls, label: str, function: FunctionType) -> FunctionState:
        """Capture ``function`` now; ``label`` names it in messages."""
        kwdefaults = function.__kwdefaults__
        return cls(label, function, function.__code__, function.__defaults__,
                   None if kwdefaults is None else dict(kwdefaults))

    def changed(self) -> bool:
        """True when the code, positional or keyword defaults differ from the capture."""
        function = self.function
        return (function.__code__ is not self.code or function.__defaults__ != self.defaults
                or function.__kwdefaults__ != self.kwdefaults)


@dataclass(frozen=True)
class ClassState:
    """The attribute dictionary and bases of a class, as they were."""

    cls: type
    attributes: dict
    bases: tuple

    @classmethod
    def of(cls, klass: type) -> ClassState:
        """Capture ``klass`` now."""
        return cls(klass, dict(vars(klass)), klass.__bases__)

    def changed(self) -> bool:
        """True when an attribute was added, removed or rebound, or the bases changed."""
        live = self.cls.__dict__
        if live.keys() != self.attributes.keys() or self.cls.__bases__ != self.bases:
            return True
        return any(live[name] is not value for name, value in self.attributes.items())


@dataclass
class KernelState:
    """The IPython shell attributes in :data:`KERNEL_ATTRIBUTES` and the before-cell hook."""

    shell: object
    attributes: dict
    cell_hook: Callable[..., None] | None = None

    @classmethod
    def of(cls, shell: object) -> KernelState:
        """Capture the watched attributes of ``shell`` now (the hook is set by :func:`seal`)."""
        return cls(shell, {name: getattr(shell, name, _MISSING) for name in KERNEL_ATTRIBUTES})

    def problem(self) -> str | None:
        """Describe the first replaced shell attribute or a removed hook, else None."""
        for name, value in self.attributes.items():
            if not _same(getattr(self.shell, name, _MISSING), value):
                return f"the kernel's get_ipython().{name} was replaced in your notebook"
        hooks = self.shell.events.callbacks.get("pre_run_cell", ())
        if self.cell_hook is not None and not any(hook is self.cell_hook for hook in hooks):
            return "the grading check that runs before each cell was unregistered"
        return None

    def number_display_problem(self, value: float) -> str | None:
        """Describe a display formatter that does not show ``value`` as itself, else None.

        nbgrader reads a test cell's score from the text of its result and gives full points
        when that text is not a number or is negative, so a notebook that changed how numbers
        are displayed could turn 0 into full points. A difference up to 0.5 is allowed for a
        ``%precision`` setting.
        """
        data, _ = self.shell.display_formatter.format(value)
        text = data.get("text/plain", "")
        try:
            shown = float(text)
        except (TypeError, ValueError):
            shown = None
        if shown is None or abs(shown - value) > 0.5:
            return (f"the notebook changed how numbers are displayed ({value!r} is shown as "
                    f"{text!r})")
        return None


def _same(live: object, captured: object) -> bool:
    """Identity, except that a freshly bound method of the same function and object counts."""
    if live is captured:
        return True
    if isinstance(live, MethodType) and isinstance(captured, MethodType):
        return live.__func__ is captured.__func__ and live.__self__ is captured.__self__
    return isinstance(live, tuple) and isinstance(captured, tuple) and live == captured


def _package_objects(modules: Iterable[ModuleType]) -> tuple[list, list, list]:
    """Module attributes, functions and classes of the grading package."""
    attributes, functions, classes = [], {}, {}
    for module in modules:
        for name, value in vars(module).items():
            if name.startswith("__"):
                continue
            attributes.append(Captured(module, f"{module.__name__}.{name}", name, value,
                                       None, None))
            if not _defined_in_package(value):
                continue
            if isinstance(value, type):
                classes[id(value)] = ClassState.of(value)
                members = [getattr(member, "fget", member) for member in vars(value).values()]
            else:
                members = [value]
            for member in members:
                _add_function(functions, getattr(member, "__func__", member))
    return attributes, list(functions.values()), list(classes.values())


def _defined_in_package(value: object) -> bool:
    module_name = getattr(value, "__module__", None)
    return isinstance(module_name, str) and module_name.startswith(PACKAGE)


def _add_function(functions: dict, candidate: object) -> None:
    """Record a Python function and the functions it wraps (``__wrapped__``), once each."""
    while isinstance(candidate, FunctionType):
        if id(candidate) not in functions:
            functions[id(candidate)] = FunctionState.of(
                f"{candidate.__module__}.{candidate.__qualname__}", candidate)
        candidate = getattr(candidate, "__wrapped__", None)


@dataclass
class Snapshot:
    """Everything tamper detection compares against, captured at one moment.

    Parameters
    ----------
    references : tuple of Captured
        Built-ins, ``sys`` functions and numpy namespaces (built-ins first).
    attributes : list of Captured
        Every attribute of every grading module.
    functions : list of FunctionState
        Code and defaults of every grading function and method.
    classes : list of ClassState
        Attribute dictionaries of every grading class.
    helpers : dict
        The originals of :data:`HELPER_NAMES`.
    kernel : KernelState or None
        IPython shell attributes, when running inside IPython.
    """

    references: tuple
    attributes: list
    functions: list
    classes: list
    helpers: dict
    kernel: KernelState | None = field(default=None)

    @classmethod
    def take(cls, modules: Iterable[ModuleType], helpers: Mapping[str, object],
             shell: object | None = None) -> Snapshot:
        """Capture now.

        Parameters
        ----------
        modules : iterable of module
            The grading package and its submodules.
        helpers : mapping
            Name -> original object, for the names in :data:`HELPER_NAMES`.
        shell : IPython InteractiveShell, optional
            The running shell, whose error and display attributes are watched too.
        """
        attributes, functions, classes = _package_objects(modules)
        kernel = None if shell is None else KernelState.of(shell)
        return cls(capture_references(), attributes, functions, classes, dict(helpers), kernel)

    def find(self, caller_globals: Mapping[str, object] | None = None
             ) -> TamperingDetected | None:
        """The exception describing the first replacement found, or None when all is intact.

        Built-ins are compared first, by dictionary look-ups and ``is`` only, so that a
        replaced built-in cannot hide itself from the comparisons that follow.
        """
        for reference in self.references:
            live = reference.owner.__dict__.get(reference.attribute, _MISSING)
            if live is not reference.value:
                verb = "deleted" if live is _MISSING else "replaced"
                return tampering(f"{reference.label} was {verb} in your notebook")
            if reference.function is not None and reference.function.__code__ is not reference.code:
                return tampering(f"the code of {reference.label} was replaced in your notebook")
        if sys.modules.get("numpy") is not numpy:
            return tampering("sys.modules['numpy'] was replaced in your notebook")
        for attribute in self.attributes:
            if attribute.owner.__dict__.get(attribute.attribute, _MISSING) is not attribute.value:
                return tampering(f"{attribute.label} was replaced in your notebook")
        for function in self.functions:
            if function.changed():
                return tampering(
                    f"the code or defaults of {function.label} were changed in your notebook")
        for state in self.classes:
            if state.changed():
                return tampering(f"the class {state.cls.__module__}.{state.cls.__qualname__} "
                                 f"was changed in your notebook")
        if caller_globals is not None and not _is_kit_module(caller_globals):
            found = self._find_in_globals(caller_globals)
            if found is not None:
                return found
        if self.kernel is not None:
            found = self.kernel.problem()
            if found is not None:
                return tampering(found)
        return None

    def _find_in_globals(self, caller_globals: Mapping[str, object]) -> TamperingDetected | None:
        for name, original in self.helpers.items():
            if caller_globals.get(name, original) is not original:
                return tampering(f"`{name}` in your notebook is no longer the grading helper "
                                 f"(it was rebound)")
        for name in NUMPY_NAMES:
            if caller_globals.get(name, numpy) is not numpy:
                return tampering(f"`{name}` in your notebook is no longer numpy (it was rebound)")
        builtin_values = {ref.attribute: ref.value for ref in self.references
                          if ref.owner is builtins}
        for name in SHADOWED_BUILTINS:
            if caller_globals.get(name, builtin_values[name]) is not builtin_values[name]:
                return tampering(f"your notebook defines a global `{name}` that hides Python's "
                                 f"built-in {name}",
                                 fix="rename that variable and restart the kernel")
        return None

    def verify(self, caller_globals: Mapping[str, object] | None = None) -> None:
        """Raise :class:`TamperingDetected` describing the first replacement found."""
        __tracebackhide__ = True
        found = self.find(caller_globals)
        if found is not None:
            raise found


def _is_kit_module(namespace: Mapping[str, object]) -> bool:
    """True for the globals of a backprop_kit module (their names are their own business)."""
    name = namespace.get("__name__")
    if not isinstance(name, str) or not name.startswith("backprop_kit."):
        return False
    module = sys.modules.get(name)
    return module is not None and module.__dict__ is namespace


# A list, so that the module attribute itself never needs rebinding.
_ACTIVE: list[Snapshot] = []


def seal(modules: Iterable[ModuleType], helpers: Mapping[str, object]) -> Snapshot:
    """Take the package's snapshot (once) and, inside IPython, register the before-cell check.

    Parameters
    ----------
    modules : iterable of module
        The grading package and its submodules.
    helpers : mapping
        Name -> original object for :data:`HELPER_NAMES`.

    Returns
    -------
    Snapshot
        The active snapshot that :func:`verify_integrity` compares against.
    """
    if not _ACTIVE:
        shell = _running_shell()
        snapshot = Snapshot.take(modules, helpers, shell)
        _ACTIVE.append(snapshot)
        if shell is not None:
            shell.events.register("pre_run_cell", verify_before_cell)
            snapshot.kernel.cell_hook = verify_before_cell
    return _ACTIVE[0]


def _running_shell() -> object | None:
    ipython = sys.modules.get("IPython")
    return None if ipython is None else ipython.get_ipython()


def verify_integrity(caller_globals: Mapping[str, object] | None = None) -> None:
    """Raise TamperingDetected if the notebook replaced anything the grading relies on.

    Parameters
    ----------
    caller_globals : mapping, optional
        The calling notebook's globals; its ``check``, ``check_close``, ``check_shape``,
        ``call``, ``Rubric``, ``np`` must still be the originals, and it must not hide the
        built-ins in :data:`SHADOWED_BUILTINS`.

    Raises
    ------
    TamperingDetected
        "Tampering detected: np.allclose was replaced in your notebook; remove that line and
        restart the kernel".
    """
    __tracebackhide__ = True  # IPython and pytest show the test cell's line, not this frame
    _ACTIVE[0].verify(caller_globals)


def verify_before_cell(info: object = None) -> None:
    """IPython ``pre_run_cell`` callback: verify against the shell's user namespace.

    IPython prints an exception raised here as an error output of the cell about to run, which
    makes nbgrader score a test cell zero even if the helpers in it were all rebound.
    """
    snapshot = _ACTIVE[0]
    snapshot.verify(snapshot.kernel.shell.user_ns)


def verify_number_display(value: float) -> None:
    """Inside IPython, check that ``value`` is displayed as itself; see
    :meth:`KernelState.number_display_problem`.

    Parameters
    ----------
    value : int or float
        The score about to be returned as the cell's result.
    """
    __tracebackhide__ = True
    kernel = _ACTIVE[0].kernel
    found = None if kernel is None else kernel.number_display_problem(value)
    if found is not None:
        raise tampering(found)
