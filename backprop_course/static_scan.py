"""Read a submitted notebook without running it and flag code that tries to cheat the grading.

Nothing a notebook does to its own process reaches the tests (they run in the trusted kernel,
:mod:`backprop_course.trusted`); this scan tells the instructor *who tried*, and it also
explains submissions that nbgrader cannot grade at all (bytes that are not UTF-8, JSON that is
not a notebook, cells whose nbgrader metadata was stripped, another assignment's notebook). It
never executes student code: answer cells and cells the student added are parsed with :mod:`ast`
(after IPython's own translation of ``%magics`` and ``!shell`` lines), and a cell that does not
parse is flagged, not fatal.

Each finding is a :class:`Flag`. What is flagged in student code:

- assignments (``=``, ``setattr``, ``delattr``, ``vars(m)[...] =``, ``m.__dict__[...] =``) to
  attributes of numpy, ``builtins``/``__builtins__``, ``sys`` or ``backprop_kit`` (the grading
  helpers included), however the module was imported or aliased;
- any use of ``sys.modules`` or ``__builtins__``; imports of ``builtins``, ``gc``, ``inspect``,
  ``ctypes`` or ``importlib``;
- rebinding, at notebook level, a name the test cells rely on (``check``, ``check_close``, ...,
  ``np``) to anything but the original import;
- string paths that point into the course (``..``, ``solutions/``, ``source/``, ``gradebook.db``,
  ``.ipynb`` files ...);
- ``exec``/``eval``/``compile``/``__import__``; ending or signalling the kernel process
  (``os._exit``, ``os.kill``, ``sys.exit``, ``signal.signal`` ...).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from nbformat import NotebookNode

#: Names the locked setup cell binds and every test cell uses.
PROTECTED_NAMES = ("check", "check_close", "check_shape", "call", "Rubric", "GradingFailure",
                   "np", "numpy")
#: Module roots whose attributes student code must never assign.
WATCHED_ROOTS = {"numpy": "numpy-patched", "builtins": "builtins-patched",
                 "sys": "sys-patched", "backprop_kit": "kit-patched",
                 "backprop_grading": "grading-patched"}
INTROSPECTION_MODULES = ("builtins", "gc", "inspect", "ctypes", "importlib")
DYNAMIC_CODE = ("exec", "eval", "compile", "__import__")
PROCESS_CONTROL = ("os._exit", "os.kill", "os.abort", "os.killpg", "sys.exit", "signal.signal",
                   "signal.alarm", "exit", "quit")
_COURSE_PATH = re.compile(
    r"(^|[\\/])\.\.([\\/]|$)|(^|[\\/])(solutions|source|autograded|submitted|release|feedback)"
    r"[\\/]|gradebook\.db|nbgrader_config|\.ipynb\b", re.IGNORECASE)
_CODE_LINE = re.compile(r"^\s*(def|class|return|import|from\s+\S+\s+import)\b", re.MULTILINE)


@dataclass(frozen=True)
class Flag:
    """One finding: where (a grade_id, or ``cell 7`` for an unmarked cell), what kind, and why."""

    where: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where}: {self.message}"


@dataclass(frozen=True)
class ReleaseLayout:
    """What a submission of one notebook is compared with: the released student notebook.

    Attributes
    ----------
    order : tuple of str
        grade_ids of the marked cells, in release order.
    locked_sources : dict
        grade_id -> released source of every locked cell (setup and test cells).
    answer_ids : frozenset of str
        grade_ids of the answer cells.
    """

    order: tuple[str, ...]
    locked_sources: dict[str, str]
    answer_ids: frozenset[str]

    @classmethod
    def of(cls, release: NotebookNode) -> ReleaseLayout:
        """The layout of a released notebook (``notebooks/<assignment>/<name>.ipynb``)."""
        marked = [(_nbgrader(c), c) for c in release.cells if _nbgrader(c).get("grade_id")]
        return cls(order=tuple(meta["grade_id"] for meta, _ in marked),
                   locked_sources={meta["grade_id"]: cell.source for meta, cell in marked
                                   if meta.get("locked")},
                   answer_ids=frozenset(meta["grade_id"] for meta, _ in marked
                                        if meta.get("solution")))


def _nbgrader(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def read_submission(path: str | Path) -> tuple[NotebookNode | None, Flag | None]:
    """Read a submitted notebook as nbgrader would; a file it cannot read becomes a flag.

    Returns
    -------
    (notebook, None) when the file is a readable notebook, else (None, Flag of kind
    ``unreadable`` saying whether the bytes, the JSON or the notebook structure is wrong).
    """
    where = Path(path).name
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        return None, Flag(where, "unreadable", f"not UTF-8 text ({error.reason} at byte "
                                               f"{error.start}); nbgrader cannot open it")
    try:
        json.loads(text)
    except ValueError as error:
        return None, Flag(where, "unreadable", f"not valid JSON ({error}); nbgrader cannot "
                                               "open it")
    try:
        return nbformat.reads(text, as_version=4), None
    except (nbformat.ValidationError, KeyError, TypeError, AttributeError, ValueError) as error:
        return None, Flag(where, "unreadable", f"JSON but not a notebook ({error!r})")


def scan_notebook(nb: NotebookNode, layout: ReleaseLayout | None = None) -> list[Flag]:
    """Every flag for one submitted notebook.

    Parameters
    ----------
    nb : NotebookNode
        The submission, as read by :func:`read_submission`.
    layout : ReleaseLayout, optional
        The released notebook's layout. Without it only the code checks run (no check of
        missing, edited, foreign or reordered cells).

    Returns
    -------
    list of Flag, in cell order, notebook-level findings first.
    """
    flags = _layout_flags(nb, layout) if layout is not None else []
    aliases = _Aliases()
    for index, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        where = grade_id or f"cell {index}"
        if cell.cell_type == "markdown":
            released = layout is not None and grade_id in layout.order
            if not released and _CODE_LINE.search(cell.source):
                flags.append(Flag(where, "code-in-markdown", "a markdown cell holds Python code; "
                                  "only code cells run, so it earns nothing"))
            continue
        if cell.cell_type != "code":
            continue
        restored = layout is not None and grade_id in layout.locked_sources
        source = layout.locked_sources[grade_id] if restored else cell.source
        findings = _scan_code(source, aliases, record=not restored)
        flags.extend(Flag(where, kind, message) for kind, message in findings)
    return flags


def _layout_flags(nb: NotebookNode, layout: ReleaseLayout) -> list[Flag]:
    submitted = [(i, _nbgrader(c)) for i, c in enumerate(nb.cells) if _nbgrader(c).get("grade_id")]
    ids = [meta["grade_id"] for _, meta in submitted]
    known = [gid for gid in ids if gid in layout.order]
    if layout.order and not ids:
        return [Flag("notebook", "metadata-stripped",
                     "no cell has nbgrader metadata (copied into a new notebook?); nbgrader "
                     "cannot tell answers from tests")]
    if layout.order and not known:
        return [Flag("notebook", "foreign-notebook",
                     f"none of this assignment's cells are in it, but {', '.join(ids)} are "
                     "(another assignment's notebook?)")]
    flags = []
    missing = [gid for gid in layout.order if gid not in ids]
    if missing:
        flags.append(Flag("notebook", "cells-missing",
                          f"cells {', '.join(missing)} are missing or lost their nbgrader "
                          "metadata (test cells are put back; answers are not)"))
    foreign = [gid for gid in ids if gid not in layout.order]
    if foreign:
        flags.append(Flag("notebook", "foreign-cells",
                          f"cells {', '.join(foreign)} do not belong to this assignment"))
    released_order = [gid for gid in layout.order if gid in known]
    if known != released_order:
        flags.append(Flag("notebook", "cells-reordered",
                          f"graded cells run in the order {', '.join(known)}"))
    for index, meta in submitted:
        gid = meta["grade_id"]
        if gid in layout.locked_sources and nb.cells[index].source != layout.locked_sources[gid]:
            flags.append(Flag(gid, "locked-cell-edited",
                              "a locked cell was edited (the released version is what runs)"))
    return flags


class _Aliases:
    """Which dotted module path each notebook-level name refers to, across cells."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {"np": "numpy", "numpy": "numpy"}

    def resolve(self, node: ast.AST) -> str | None:
        """Dotted path of ``np.testing`` / ``t`` (after ``t = np.testing``), else None."""
        if isinstance(node, ast.Name):
            if node.id == "__builtins__":
                return "builtins"
            return self.names.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def learn(self, tree: ast.Module) -> None:
        for node in _walk_module_level(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.names[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        self.names[root] = root
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                target = self.resolve(node.value)
                if target and _watched_kind(target):
                    self.names[node.targets[0].id] = target


def _walk_module_level(tree: ast.Module) -> Iterator[ast.AST]:
    """Statements that run at notebook level: not inside a def, lambda or class body."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _watched_kind(dotted: str) -> str | None:
    return WATCHED_ROOTS.get(dotted.split(".")[0])


def _scan_code(source: str, aliases: _Aliases, *, record: bool) -> list[tuple[str, str]]:
    """Findings (kind, message), one per kind, in one code cell; ``record=False`` only learns
    its imports."""
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        return [("syntax-error", f"does not parse (line {line}: {getattr(error, 'msg', error)})"
                 )] if record else []
    aliases.learn(tree)
    return _code_findings(tree, aliases) if record else []


def _code_findings(tree: ast.Module, aliases: _Aliases) -> list[tuple[str, str]]:
    findings: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                findings.extend(_patched_target(target, aliases))
        elif isinstance(node, ast.Call):
            findings.extend(_suspicious_call(node, aliases))
        elif isinstance(node, ast.Attribute) and node.attr == "modules" \
                and aliases.resolve(node.value) == "sys":
            findings.append(("sys-modules", "touches sys.modules"))
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            findings.append(("builtins-patched", "uses __builtins__"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            findings.extend(_suspicious_import(node))
        elif isinstance(node, ast.Global):
            findings.extend(("helper-rebound", f"declares `global {name}`")
                            for name in node.names if name in PROTECTED_NAMES)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _COURSE_PATH.search(node.value):
            findings.append(("course-files", f"refers to the course's files: {node.value!r}"))
    findings.extend(_rebound_helpers(tree))
    first_of_kind = {}
    for kind, message in findings:
        first_of_kind.setdefault(kind, message)
    return list(first_of_kind.items())


def _patched_target(target: ast.AST, aliases: _Aliases) -> list[tuple[str, str]]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [f for element in target.elts for f in _patched_target(element, aliases)]
    if isinstance(target, ast.Attribute):
        owner = aliases.resolve(target.value)
        kind = owner and _watched_kind(owner)
        return [(kind, f"assigns {owner}.{target.attr}")] if kind else []
    if isinstance(target, ast.Subscript):
        container = target.value
        if isinstance(container, ast.Attribute) and container.attr == "__dict__":
            owner = aliases.resolve(container.value)
        elif isinstance(container, ast.Call) and isinstance(container.func, ast.Name) \
                and container.func.id == "vars" and container.args:
            owner = aliases.resolve(container.args[0])
        else:
            return []
        kind = owner and _watched_kind(owner)
        return [(kind, f"writes into the namespace of {owner}")] if kind else []
    return []


def _suspicious_call(node: ast.Call, aliases: _Aliases) -> list[tuple[str, str]]:
    func = node.func
    name = func.id if isinstance(func, ast.Name) else aliases.resolve(func)
    if name in ("setattr", "delattr") and node.args:
        owner = aliases.resolve(node.args[0])
        kind = owner and _watched_kind(owner)
        return [(kind, f"calls {name} on {owner}")] if kind else []
    if name in DYNAMIC_CODE and isinstance(func, ast.Name):
        return [("dynamic-code", f"runs code built at run time with {name}()")]
    if name in PROCESS_CONTROL:
        return [("process-control", f"calls {name}(), which can stop or signal the kernel")]
    return []


def _suspicious_import(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return [("introspection", f"imports {module}") for module in modules
            if module.split(".")[0] in INTROSPECTION_MODULES]


def _rebound_helpers(tree: ast.Module) -> list[tuple[str, str]]:
    findings = []
    for node in _walk_module_level(tree):
        for name in _names_bound(node):
            if name in PROTECTED_NAMES:
                findings.append(("helper-rebound", f"rebinds `{name}`, which the tests use"))
    return findings


def _names_bound(node: ast.AST) -> list[str]:
    """Names a notebook-level statement binds, except by importing the original again."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in node.names if a.name != "numpy"]
    if isinstance(node, ast.ImportFrom):
        original = (node.module or "").startswith("backprop_grading")
        return [a.asname or a.name for a in node.names
                if not (original and a.asname in (None, a.name))]
    return []
