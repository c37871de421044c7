"""A one-notebook nbgrader course in a temporary folder, for end-to-end grading tests."""

import os

import nbformat
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from backprop_course.gradebook_schema import read_gradebook_version_in_process

#: An answer cell both end-to-end grading test files use; nbgrader blanks its solution region.
DOUBLE_SOLUTION = '''\
def double(x):
    """Return 2 * x, same shape as x."""
    ### BEGIN SOLUTION
    return 2.0 * x
    ### END SOLUTION'''


def cell(kind, source, grade_id, points=None):
    """An nbgrader code cell: kind "setup" (locked), "answer" or "test" (graded, locked)."""
    flags = {"setup": (False, False), "answer": (False, True), "test": (True, False)}[kind]
    meta = {"schema_version": 3, "grade": flags[0], "solution": flags[1],
            "locked": kind != "answer", "grade_id": grade_id}
    if points is not None:
        meta["points"] = points
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


#: The course's autograde steps (nbgrader_config.py): the trusted executor in place of Execute.
COURSE_AUTOGRADE = [
    "backprop_course.trusted.executor.TrustedExecute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata"]


def tiny_course(root, assignment, notebook, cells, autograde_preprocessors=None):
    """Write the source notebook of ``cells`` and return nbgrader's API for the course at root.

    Gradebooks are created without starting ``alembic`` (:mod:`backprop_course.gradebook_schema`).
    """
    read_gradebook_version_in_process()
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.Exchange.root = str(root / "exchange")
    config.Execute.timeout = 60
    config.KernelManager.transport = "ipc"  # avoids TCP port races with parallel workers
    config.KernelManager.ip = str(root / "kernel")
    if autograde_preprocessors is not None:
        config.Autograde.autograde_preprocessors = autograde_preprocessors
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = cells
    os.makedirs(root / "source" / assignment)
    nbformat.write(nb, root / "source" / assignment / f"{notebook}.ipynb")
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
