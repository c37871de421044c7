"""Build and place notebooks as nbgrader submissions (real or simulated students)."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

_SOLUTION_REGION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def reference_submission(source: NotebookNode, release: NotebookNode) -> NotebookNode:
    """What a student who writes the instructor's solution submits.

    Every answer cell of the release gets the source cell's code with the
    ``### BEGIN/END SOLUTION`` marker lines removed; everything else stays as released.

    Parameters
    ----------
    source : NotebookNode
        The instructor notebook (``solutions/``).
    release : NotebookNode
        The student notebook generated from it (``notebooks/``).

    Returns
    -------
    NotebookNode
        A new notebook; the inputs are not modified.
    """
    answers = {_grade_id(c): c.source for c in source.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    submission = copy.deepcopy(release)
    for cell in submission.cells:
        gid = _grade_id(cell)
        if gid in answers:
            cell.source = _SOLUTION_REGION.sub("", answers[gid])
    return submission


def submit_notebook(submitted_dir: str | os.PathLike, notebook: NotebookNode | bytes,
                    name: str) -> Path:
    """Write a notebook (or raw bytes, for malformed submissions) as ``submitted_dir/name.ipynb``.

    Parameters
    ----------
    submitted_dir : path
        ``submitted/<student>/<assignment>``; created if missing.
    notebook : NotebookNode or bytes
    name : str
        Notebook name without extension.

    Returns
    -------
    Path of the written file.
    """
    folder = Path(submitted_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    if isinstance(notebook, bytes):
        path.write_bytes(notebook)
    else:
        nbformat.write(notebook, str(path))
    return path
