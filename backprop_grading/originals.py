"""References to numpy, Python built-ins and ``sys`` captured when the grading package is imported.

The notebook imports ``backprop_grading`` in its locked setup cell, before any student code
runs, so what is captured here is the genuine article. :mod:`backprop_grading.integrity`
later compares the live attributes with these captures to notice a replacement.
"""

from __future__ import annotations

import builtins
import sys
from dataclasses import dataclass
from types import CodeType, FunctionType, ModuleType

# Imported so that the watched numpy namespaces are in sys.modules when they are captured.
import numpy  # noqa: F401
import numpy.linalg  # noqa: F401
import numpy.random  # noqa: F401
import numpy.testing  # noqa: F401

from .failures import TamperingDetected

# Built-ins that test cells and this package call. Names an honest notebook rebinds all the
# time (``input``, ``exit``; IPython swaps some of them while a cell runs) are not watched.
WATCHED_BUILTINS = (
    "abs", "all", "any", "bool", "callable", "dict", "enumerate", "float", "getattr", "hasattr",
    "id", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next",
    "object", "print", "range", "repr", "round", "set", "sorted", "str", "sum", "tuple", "type",
    "vars", "zip", "__import__", "BaseException", "Exception", "AssertionError", "TypeError",
    "ValueError", "NotImplementedError",
)

# Every callable and submodule of these numpy namespaces is watched: the public ones test cells
# use to compute expected values (np.tanh, np.allclose, np.testing.assert_allclose, ...) and the
# internal ones they are built from (np.allclose calls numpy._core.numeric.isclose).
# Modules that this numpy version does not have are skipped (numpy 1.x has numpy.core).
WATCHED_NUMPY_MODULES = (
    "numpy", "numpy.testing", "numpy.linalg", "numpy.random",
    "numpy._core.numeric", "numpy._core.fromnumeric", "numpy.core.numeric",
    "numpy.core.fromnumeric", "numpy.testing._private.utils",
)

# What call() and the integrity check themselves use from sys.
WATCHED_SYS = ("_getframe", "getprofile", "setprofile", "modules")


@dataclass(frozen=True, slots=True)
class Captured:
    """One attribute of a module as it was at import time.

    Attributes
    ----------
    owner : module
        The module the attribute lives in (``numpy``, ``builtins``, ...).
    label : str
        How a student would write it: ``"np.allclose"``, ``"builtins.abs"``, ``"sys.modules"``.
    attribute : str
        The attribute's name in ``owner``.
    value : object
        The captured object.
    function : FunctionType or None
        The Python function that runs when ``value`` is called (for numpy's dispatchers, their
        read-only ``_implementation``); None for C functions, ufuncs, classes and modules.
    code : CodeType or None
        ``function.__code__`` as captured, so that a replaced ``__code__`` is noticed too.
    """

    owner: ModuleType
    label: str
    attribute: str
    value: object
    function: FunctionType | None
    code: CodeType | None

    @classmethod
    def of(cls, owner: ModuleType, label: str, attribute: str) -> Captured:
        """Capture ``owner.attribute`` now."""
        value = getattr(owner, attribute)
        function = getattr(value, "_implementation", value)  # numpy's array-function dispatchers
        if not isinstance(function, FunctionType):
            return cls(owner, label, attribute, value, None, None)
        return cls(owner, label, attribute, value, function, function.__code__)


def _module_label(module_name: str) -> str:
    return "np" + module_name[len("numpy"):] if module_name.startswith("numpy") else module_name


def _capture_module(module: ModuleType, names: tuple[str, ...] | None) -> list[Captured]:
    """Capture ``names`` of ``module``, or with None all its callables and submodules."""
    if names is None:
        names = tuple(name for name, value in vars(module).items()
                      if not name.startswith("__")
                      and (callable(value) or isinstance(value, ModuleType)))
    label = _module_label(module.__name__)
    return [Captured.of(module, f"{label}.{name}", name) for name in names if hasattr(module, name)]


def capture_references() -> tuple[Captured, ...]:
    """Capture the watched built-ins, ``sys`` functions and numpy namespaces as they are now.

    Returns
    -------
    tuple of Captured
        Built-ins first (the integrity check verifies them before it calls any of them).

    Raises
    ------
    TamperingDetected
        When something captured is already a notebook-made replacement (e.g. a cell that sets
        ``np.allclose`` was moved above the setup cell).
    """
    references = (_capture_module(builtins, WATCHED_BUILTINS)
                  + _capture_module(sys, WATCHED_SYS))
    for module_name in WATCHED_NUMPY_MODULES:
        if module_name in sys.modules:
            references += _capture_module(sys.modules[module_name], None)
    for reference in references:
        _raise_if_made_in_notebook(reference)
    return tuple(references)


def _raise_if_made_in_notebook(reference: Captured) -> None:
    """A genuine built-in lives in ``builtins``; genuine numpy code was not typed into a cell."""
    if reference.owner is builtins:
        made_in_notebook = getattr(reference.value, "__module__", None) != "builtins"
    else:
        code = reference.code
        made_in_notebook = code is not None and (
            code.co_filename.startswith("<")
            or getattr(reference.value, "__module__", None) == "__main__")
    if made_in_notebook:
        raise TamperingDetected(
            f"Tampering detected: {reference.label} was replaced before backprop_grading "
            f"was imported; remove that line and restart the kernel")
