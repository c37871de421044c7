"""Which kit functions a notebook's tests forbid, found before any student code runs.

The answer server must forward these functions to the trusted side from its start (see
:mod:`.answer_server`), but the tests name them in ``call(..., forbid=EXPR)`` arguments that
are evaluated only when a test runs. So the instructor's cells are read ahead: every ``forbid=``
keyword argument, with the module-level assignments it uses (``KIT = (gradcheck.numerical_gradient,
...)``, ``FORBID = (Linear, *FINITE_DIFFERENCES)``), is evaluated in a scratch namespace
holding the cells' imports of ``backprop_kit``, ``numpy``, ``scipy`` and the standard library
and their function definitions. An expression that cannot be evaluated that way (a function's
parameter, ``forbid=forbid``) is skipped; a ``call()`` that
then forbids a function the server does not forward cannot detect delegation to it, which the
pipeline tests (reference solutions must score full marks, delegating ones must not) reveal.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from types import FunctionType

from backprop_grading import delegation

ALLOWED_IMPORTS = ("backprop_kit", "numpy", "scipy")


def _imports_allowed(node: ast.Import | ast.ImportFrom) -> bool:
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
        alias.name for alias in node.names]
    return all(name.split(".")[0] in ALLOWED_IMPORTS or name in sys.stdlib_module_names
               for name in names) and not (
        isinstance(node, ast.ImportFrom) and node.level)


def forbidden_functions(sources: Iterable[str]) -> list[FunctionType]:
    """The kit functions that ``forbid=`` arguments in ``sources`` name, unwrapped.

    Parameters
    ----------
    sources : iterable of str
        Code of the notebook's instructor cells (setup and test cells).

    Returns
    -------
    list of functions
        Each once, as :func:`backprop_grading.delegation.forbidden_functions` finds them, less
        the code that Python generates (a dataclass's ``__repr__``, compiled from a string):
        no reference implementation lives there, and the answer server cannot tell two
        generated functions of one module apart.
    """
    namespace: dict = {}
    assignments: dict[str, list[ast.expr]] = {}
    expressions: list[ast.expr] = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and _imports_allowed(node):
                try:
                    exec(compile(ast.Module([node], []), "<forbid>", "exec"), namespace)
                except ImportError:
                    pass
            elif isinstance(node, ast.FunctionDef):  # helpers such as defined_in(module)
                try:  # defaults and decorators may use names this namespace lacks
                    exec(compile(ast.Module([node], []), "<forbid>", "exec"), namespace)
                except Exception:
                    pass
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                assignments.setdefault(node.targets[0].id, []).append(node.value)
        expressions += [k.value for n in ast.walk(tree) if isinstance(n, ast.Call)
                        for k in n.keywords if k.arg == "forbid"]
    items: list[object] = []
    for expression in expressions:
        value = _evaluate(expression, namespace, assignments, set())
        if isinstance(value, (tuple, list)):
            items += value
    functions: dict[int, FunctionType] = {}
    for item in items:
        try:
            found = delegation.forbidden_functions([item])
        except TypeError:  # not something call() can forbid: call() itself will say so
            continue
        functions.update((id(f), f) for f in found
                         if not f.__code__.co_filename.startswith("<"))
    return list(functions.values())


def _evaluate(expression: ast.expr, namespace: dict, assignments: dict[str, list[ast.expr]],
              busy: set[str]) -> object:
    """Value of ``expression``, defining the names it needs from ``assignments`` first."""
    for node in ast.walk(expression):
        if isinstance(node, ast.Name) and node.id not in namespace and node.id not in busy:
            busy.add(node.id)
            for candidate in assignments.get(node.id, []):
                value = _evaluate(candidate, namespace, assignments, busy)
                if value is not None:
                    namespace[node.id] = value
                    break
    try:
        return eval(compile(ast.Expression(expression), "<forbid>", "eval"), namespace)
    except Exception:
        if not isinstance(expression, (ast.Tuple, ast.List)):
            return None
    # (kit_function, student_function): keep the items that can be evaluated here
    items: list[object] = []
    for element in expression.elts:
        starred = isinstance(element, ast.Starred)
        value = _evaluate(element.value if starred else element, namespace, assignments, busy)
        if starred and isinstance(value, (tuple, list)):
            items += value
        elif value is not None and not starred:
            items.append(value)
    return tuple(items)
