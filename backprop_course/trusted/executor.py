"""nbgrader's Execute step with the student's code and the grading in separate processes.

:class:`TrustedExecute` replaces ``nbgrader.preprocessors.Execute`` in autograde
(``c.Autograde.autograde_preprocessors``). The kernel nbgrader starts is the *trusted* kernel:
it only ever runs the instructor's cells, as stored in the gradebook. For each code cell, in
order:

- a *test* cell (a graded, locked cell whose source is the gradebook's) runs in the trusted
  kernel only; the student's names in it are stand-ins (:mod:`.kernel_side`) that forward
  every call to the student's process, and its checks and its score are computed there;
- another *locked* instructor cell (setup) runs in the student's process, so that the
  student's namespace has the same setup globals, and then in the trusted kernel, whose
  outputs the cell keeps;
- every other cell (answer cells, cells without nbgrader metadata, and any cell whose source
  or metadata does not match the gradebook) runs only in the student's process, the answer
  server (:mod:`.answer_server`), and its outputs are copied into the notebook.

The hidden tests never enter the student's process, and nothing the student's code does to its
own interpreter (input transformers, exception handlers, display hooks, replaced numpy, other
threads) reaches the process that runs the tests. A test cell earns points only from the
trusted kernel's own reply: a test cell whose execution did not end with an "ok" reply, or that
the loop never reached, gets an error output, which nbgrader scores zero.

Isolation: the student's process runs in the bubblewrap sandbox of :mod:`backprop_course.sandbox`
(the limits of ``SandboxedKernelManager``'s configuration, its own pids cgroup, which this step
creates and closes, so nothing it started outlives the notebook; only the files the assignment
ships are visible beside it). The trusted kernel starts in an empty private folder with
``PYTHONSAFEPATH=1``, so files submitted beside the notebook cannot shadow its imports. With
``sandbox = False`` (``--no-sandbox``) the student's process is a plain child process.

Assignments not listed in :attr:`TrustedExecute.assignments` are executed as
:class:`~backprop_course.sandbox.SandboxedExecute` does: one sandboxed kernel for every cell.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from traitlets import List, Unicode

from ..sandbox import PidsCgroup, SandboxedExecute, SandboxedKernelManager, shipped_files
from .kernel_side import MARKER, MIME

KERNEL_SIDE = "backprop_course.trusted.kernel_side"
#: Time allowed for starting the student's sandboxed process, whatever the per-cell timeout.
START_SECONDS = 60
#: Fields of each output type copied from the student's process (anything else is dropped).
OUTPUT_FIELDS = {"stream": ("name", "text"), "display_data": ("data", "metadata"),
                 "execute_result": ("data", "metadata", "execution_count"),
                 "error": ("ename", "evalue", "traceback")}


@dataclass(frozen=True)
class InstructorCell:
    """A locked cell as the gradebook stores it."""

    source: str
    is_test: bool


def instructor_cells(resources: dict) -> dict[str, InstructorCell]:
    """grade_id -> the locked code cells of the notebook being autograded, from the gradebook.

    Raises
    ------
    ValueError
        When ``resources`` does not come from nbgrader's autograde (no gradebook to trust).
    """
    info = resources.get("nbgrader", {})
    if not all(key in info for key in ("db_url", "assignment", "notebook")):
        raise ValueError("TrustedExecute runs only inside nbgrader autograde: it needs the "
                         "gradebook's copy of the instructor's cells")
    with Gradebook(info["db_url"]) as gradebook:
        notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
        tests = {c.name for c in notebook.grade_cells} - {c.name for c in notebook.solution_cells}
        return {cell.name: InstructorCell(cell.source, cell.name in tests)
                for cell in notebook.source_cells if cell.locked and cell.cell_type == "code"}


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _student_output(item: object) -> NotebookNode | None:
    """A well-formed notebook output built from what the student's process sent, else None."""
    if not isinstance(item, dict) or item.get("output_type") not in OUTPUT_FIELDS:
        return None
    kind = item["output_type"]
    fields = {key: item[key] for key in OUTPUT_FIELDS[kind] if key in item}
    output = nbformat.v4.new_output(kind, **fields)
    try:
        nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            outputs=[output])]))
    except nbformat.ValidationError:
        return None
    return output


class TrustedExecute(SandboxedExecute):
    """Execute with a trusted kernel for the tests and a sandboxed process for the answers.

    ``sandbox`` (inherited, default True) puts the student's process in the bubblewrap sandbox;
    False grades with a plain child process (no isolation).
    """

    assignments = List(Unicode(), default_value=["*"], help="Assignments graded this way "
                       '("*": all); the others run in one sandboxed kernel, as '
                       "SandboxedExecute does.").tag(config=True)

    _split = False  # this notebook runs in the two processes

    def _trusted(self, resources: dict) -> bool:
        assignment = resources.get("nbgrader", {}).get("assignment")
        return "*" in self.assignments or assignment in self.assignments

    def preprocess(self, nb, resources, retries=None):
        self._split = self._trusted(resources)
        if not self._split:
            return super().preprocess(nb, resources, retries)
        self._cells = instructor_cells(resources)
        self._started = False
        self._status: str | None = None
        self._tests_run: set[int] = set()
        self._cgroup: PidsCgroup | None = None
        self._kernel_dir = tempfile.mkdtemp(prefix="bk-trusted-")
        try:
            nb, resources = super().preprocess(nb, resources, retries)
        finally:
            if self._cgroup is not None:  # every process of the student's sandbox ends here
                self._cgroup.close()
            shutil.rmtree(self._kernel_dir, ignore_errors=True)
        for index, cell in enumerate(nb.cells):
            if self._role(cell) == "test" and index not in self._tests_run:
                cell.outputs.append(_error("the test cell was not run by the grading kernel"))
        return nb, resources

    def create_kernel_manager(self):
        if not self._split:
            return super().create_kernel_manager()
        # The trusted kernel runs instructor code only: an ordinary kernel (see start_new_kernel)
        self.kernel_manager_class = AsyncKernelManager
        return super(SandboxedExecute, self).create_kernel_manager()

    async def async_start_new_kernel(self, **kwargs):
        if self._split:  # not the submission's folder: nothing submitted can shadow an import
            kwargs.setdefault("cwd", self._kernel_dir)
            kwargs.setdefault("env", {**os.environ, "PYTHONSAFEPATH": "1"})
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds the base class's

    def _sandbox_spec(self, workdir: str) -> dict | None:
        """What the trusted kernel needs to start the student's process in the sandbox."""
        if not self.sandbox:
            return None
        limits = SandboxedKernelManager(config=self.config).limits
        if limits.processes is not None:
            self._cgroup = PidsCgroup.create(limits.processes)
        files = shipped_files(CourseDirectory(config=self.config),
                              self.resources["nbgrader"]["assignment"], workdir)
        return {"files": files, "cgroup": str(self._cgroup.path) if self._cgroup else None,
                "limits": dataclasses.asdict(limits)}

    def _role(self, cell: NotebookNode) -> str:
        """"test", "setup" (another instructor cell) or "student"."""
        instructor = self._cells.get(_grade_id(cell))
        if cell.cell_type != "code" or instructor is None or cell.source != instructor.source:
            return "student"
        return "test" if instructor.is_test else "setup"

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        if self._split:
            self._status = kwargs["execute_reply"]["content"]["status"]

    def preprocess_cell(self, cell, resources, index):
        if not self._split:
            return super().preprocess_cell(cell, resources, index)
        if cell.cell_type != "code":
            return cell, resources
        if not self._started:
            self._started = True
            sources = [c.source for c in self._cells.values()]
            workdir = os.path.abspath(resources.get("metadata", {}).get("path") or ".")
            spec = self._sandbox_spec(workdir)
            cell_timeout = self.timeout  # starting the student's process is not the cell's time
            self.timeout = None if cell_timeout is None else max(cell_timeout, START_SECONDS)
            try:
                failure = self._in_kernel(index, f"start({workdir!r}, {sources!r}, {spec!r})")
            finally:
                self.timeout = cell_timeout
            if failure is not None:
                cell.outputs = [failure]
                return cell, resources
        role = self._role(cell)
        if role != "test":
            outputs = self._in_student_process(cell, index, student=role == "student")
            if role == "student":
                cell.outputs = outputs
                return cell, resources
        self._status = None
        cell, resources = super().preprocess_cell(cell, resources, index)
        if role == "test":
            self._tests_run.add(index)
            if self._status != "ok" and not any(o.output_type == "error" for o in cell.outputs):
                cell.outputs.append(_error("the grading kernel did not finish this test cell"))
        return cell, resources

    def _in_kernel(self, index: int, call: str) -> NotebookNode | list:
        """Run ``kernel_side.<call>`` in the trusted kernel.

        Returns
        -------
        The student cell's outputs (a list) for ``run_cell``, None for a successful ``start``,
        or an error output when the trusted kernel failed.
        """
        scratch = nbformat.v4.new_code_cell(
            f"{MARKER}__import__({KERNEL_SIDE!r}, fromlist=['_']).{call}")
        original = self.nb.cells[index]
        try:
            self.execute_cell(scratch, index, store_history=False)
        finally:
            self.nb.cells[index] = original
        for output in scratch.outputs:
            if output.output_type == "error":
                return _error(f"{output.ename}: {output.evalue}")
            if output.output_type == "display_data" and MIME in output.data:
                payload = output.data[MIME]
                items = payload.get("outputs", []) if isinstance(payload, dict) else []
                return [o for o in map(_student_output, items) if o is not None]
        return None

    def _in_student_process(self, cell: NotebookNode, index: int,
                            student: bool) -> list[NotebookNode]:
        result = self._in_kernel(index, f"run_cell({cell.source!r}, {student!r})")
        if isinstance(result, list):
            return result
        return [result if result is not None else _error("the student's process sent nothing")]


def _error(message: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename="GradingError", evalue=message,
                                  traceback=[f"GradingError: {message}"])
