"""Which kit functions a notebook's tests forbid, found before any student code runs.

The answer server must forward these functions to the trusted side from its start (see
:mod:`.answer_server`), but the tests name them in ``call(..., forbid=EXPR)`` arguments that
are evaluated only when a test runs. So the instructor's cells are read ahead: every ``forbid=``
keyword argument, with the module-level assignments it uses (``KIT = (gradcheck.numerical_gradient,
...)``, ``FORBID = (Linear, *FINITE_DIFFERENCES)``), is evaluated in a scratch namespace
holding the cells' imports of ``backprop_kit``, ``backprop_experiments``, ``numpy``, ``scipy`` and
the standard library and their function definitions. An expression that cannot be evaluated that
way is skipped, and a ``call()`` that then forbids a function the server does not forward could
not detect delegation to it: :func:`unresolved_forbids` lists such expressions (only a helper's
own parameter, ``forbid=forbid``, may be one; tests/grading/test_trusted_forbid.py checks every
notebook).

The experiments (``backprop_experiments``) that the instructor's cells import are forwarded as a
whole (:func:`forwarded_functions`): they are instructor code, some exercises' reference
implementations live there, and a demo cell that trains a network with them then runs on the
trusted side in one request instead of one request per forwarded kit call inside the loop.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from types import FunctionType, ModuleType

from backprop_grading import delegation

#: Packages whose imports in the instructor's cells are repeated here: the kit, the experiments
#: (reference implementations of some exercises live there) and what they need.
EXPERIMENTS = "backprop_experiments"
ALLOWED_IMPORTS = ("backprop_kit", EXPERIMENTS, "numpy", "scipy")


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
    namespace, assignments, expressions = _read(sources)
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


def forwarded_functions(sources: Iterable[str]) -> list[FunctionType]:
    """The functions the answer server forwards to the trusted side, read from ``sources``.

    Returns
    -------
    list of functions
        :func:`forbidden_functions`, and every function defined in a module of
        ``backprop_experiments`` that the cells import (module level and in classes).
    """
    from .answer_server import kit_functions

    namespace = _read(sources)[0]
    modules = {getattr(value, "__module__", None) if not isinstance(value, ModuleType)
               else value.__name__ for value in namespace.values()}
    functions = {id(f): f for f in forbidden_functions(sources)}
    for name in sorted(m for m in modules if isinstance(m, str)
                       and m.split(".")[0] == EXPERIMENTS and m != EXPERIMENTS):
        functions.update((id(f), f) for f in kit_functions(sys.modules[name])
                         if not f.__code__.co_filename.startswith("<"))
    return list(functions.values())


def unresolved_forbids(sources: Iterable[str]) -> list[str]:
    """The ``forbid=`` expressions in ``sources`` that cannot be evaluated in full here.

    A helper's own parameter (``def graded(..., forbid): call(..., forbid=forbid)``) is not
    listed: the expressions its callers pass are read where they are written.

    Returns
    -------
    list of str
        Each expression's source text; any kit function named only there would not be
        forwarded, so delegation to it would go unseen.
    """
    namespace, assignments, expressions = _read(sources)
    unresolved = []
    for expression in expressions:
        _evaluate(expression, namespace, assignments, set())
        try:
            eval(compile(ast.Expression(expression), "<forbid>", "eval"), namespace)
        except Exception:
            unresolved.append(ast.unparse(expression))
    return unresolved


def _read(sources: Iterable[str]) -> tuple[dict, dict[str, list[ast.expr]], list[ast.expr]]:
    """The cells' allowed imports and function definitions run in a scratch namespace, their
    module-level assignments, and their ``forbid=`` expressions (less helpers' parameters)."""
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
        parameters = {a.arg for f in ast.walk(tree)
                      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                      for a in (*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs)}
        expressions += [k.value for n in ast.walk(tree) if isinstance(n, ast.Call)
                        for k in n.keywords if k.arg == "forbid"
                        and not (isinstance(k.value, ast.Name) and k.value.id in parameters)]
    return namespace, assignments, expressions


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
