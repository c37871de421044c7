"""nbgrader's Execute step with the student's code and the grading in separate processes.

:class:`TrustedExecute` replaces ``nbgrader.preprocessors.Execute`` in autograde
(``c.Autograde.autograde_preprocessors``). No Jupyter kernel is started: the *trusted* side is
an IPython shell in a child forked from the grading process for this notebook alone
(:mod:`.trusted_shell`), which only ever runs the instructor's cells, as stored in the
gradebook. For each code cell, in order:

- a *test* cell (a graded, locked cell whose source is the gradebook's) runs in the trusted
  shell only; the student's names in it are stand-ins (:mod:`.kernel_side`) that forward
  every call to the student's process, and its checks and its score are computed there;
- another *locked* instructor cell (setup) runs in the student's process, so that the
  student's namespace has the same setup globals, and then in the trusted shell, whose
  outputs the cell keeps;
- every other cell (answer cells, cells without nbgrader metadata, and any cell whose source
  or metadata does not match the gradebook) runs only in the student's process, the answer
  server (:mod:`.answer_server`), and its outputs are copied into the notebook;
- a code cell after the last graded or answer cell (a notebook's closing experiments and plots)
  is not run: nothing a test reads comes from it. It shows :data:`NOT_RUN_NOTE` instead.

The trusted shell's outputs are what a kernel's would be in nbclient (stream, display_data,
execute_result with its count, error with its traceback; text on stderr is a ``stderr``
stream, which nbgrader scores 0). A cell past ``timeout`` (``c.Execute.timeout``) is
interrupted and gets nbgrader's ``CellTimeoutError`` output.

The hidden tests never enter the student's process, and nothing the student's code does to its
own interpreter (input transformers, exception handlers, display hooks, replaced numpy, other
threads) reaches the process that runs the tests. A test cell earns points only from the
trusted shell's own reply: a test cell whose execution did not end with an "ok" reply, or that
the loop never reached, gets an error output, which nbgrader scores zero.

Isolation: the student's process runs in the bubblewrap sandbox of :mod:`backprop_course.sandbox`
(the limits configured on this step, its own pids cgroup, which this step
creates and closes, so nothing it started outlives the notebook; only the files the assignment
ships are visible beside it). The trusted shell starts in an empty private folder with the
working directory off ``sys.path``, so files submitted beside the notebook cannot shadow its
imports, and it is a new process for every notebook. With ``sandbox = False``
(``--no-sandbox``) the student's process is a plain child process. With ``warm_start`` (the
default) the sandboxed process is a fork of the grading process's zygote (:mod:`.zygote`), made
to join the fresh sandbox, instead of a new Python. Every assignment is graded
this way; there is no path that runs the tests beside the student's code.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass

import nbformat
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from ..sandbox import PidsCgroup, SandboxLimits, require_sandbox_once, shipped_files
from .trusted_shell import LANGUAGE_INFO, TrustedShell, warm_imports
from .zygote import ZygoteError, start_zygote

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


#: Why this process's zygote could not start, once known ("" while it has not failed), and
#: whether the log has said so.
_zygote_failure = {"why": "", "logged": False}


def zygote_address(config: dict | None = None, wait: bool = True) -> str | None:
    """This process's zygote (:mod:`.zygote`), started on first use, when the configuration
    (``c.TrustedExecute``) sandboxes with warm starts; None otherwise, or where it cannot start
    (the answer servers then start cold). The grading process calls it before it forks, so
    that every run forked from it shares one zygote; ``wait=False`` only launches it (see
    :func:`~.zygote.start_zygote`)."""
    options = (config or {}).get("TrustedExecute", {})
    wanted = options.get("sandbox", True) and options.get("warm_start", True)
    if not wanted or _zygote_failure["why"]:
        return None
    try:
        return start_zygote(wait)
    except ZygoteError as error:
        _zygote_failure["why"] = str(error)
        return None


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _student_output(item: object) -> NotebookNode | None:
    """A well-formed notebook output built from what the student's process sent, else None."""
    if not isinstance(item, dict) or item.get("output_type") not in OUTPUT_FIELDS:
        return None
    kind = item["output_type"]
    fields = {key: item[key] for key in OUTPUT_FIELDS[kind] if key in item}
    try:  # new_output checks it against the notebook schema's definition of its type
        return nbformat.v4.new_output(kind, **fields)
    except nbformat.ValidationError:
        return None


class TrustedExecute(Execute):
    """Execute with a trusted shell for the tests and a sandboxed process for the answers.

    ``sandbox`` (default True) puts the student's process in the bubblewrap sandbox, with the
    limits below (``c.TrustedExecute.memory_bytes`` ...); False grades with a plain child
    process (no isolation). Without a working sandbox, grading stops with
    :class:`~backprop_course.sandbox.SandboxUnavailable`'s message. The per-cell time limit is
    ``timeout`` (``c.Execute.timeout``), as for nbgrader's Execute.
    """

    sandbox = Bool(True, help="run the student's process in the bubblewrap sandbox; False "
                   "grades without any isolation").tag(config=True)
    memory_bytes = Integer(SandboxLimits.memory_bytes, allow_none=True,
                           help="RLIMIT_AS of the student's process").tag(config=True)
    max_processes = Integer(SandboxLimits.processes, allow_none=True,
                            help="processes plus threads in the sandbox").tag(config=True)
    file_bytes = Integer(SandboxLimits.file_bytes, help="RLIMIT_FSIZE").tag(config=True)
    tmpfs_bytes = Integer(SandboxLimits.tmpfs_bytes,
                          help="size of the private working directory, HOME and /tmp"
                          ).tag(config=True)
    cpu_seconds = Integer(SandboxLimits.cpu_seconds, allow_none=True,
                          help="RLIMIT_CPU of the student's process").tag(config=True)
    warm_start = Bool(True, help="fork the student's process from a pre-imported zygote into "
                      "its fresh sandbox (backprop_course.trusted.zygote); False starts a new "
                      "Python in each sandbox").tag(config=True)

    @property
    def limits(self) -> SandboxLimits:
        """The sandbox's limits, from this step's configuration."""
        return SandboxLimits(memory_bytes=self.memory_bytes, processes=self.max_processes,
                             file_bytes=self.file_bytes, tmpfs_bytes=self.tmpfs_bytes,
                             cpu_seconds=self.cpu_seconds)

    def preprocess(self, nb, resources, retries=None):
        if self.sandbox:
            require_sandbox_once()
        self.nb, self.resources = nb, resources
        self._cells = instructor_cells(resources)
        self._tests_run: set[int] = set()
        self._cgroup: PidsCgroup | None = None
        self._shell: TrustedShell | None = None
        warm_imports()  # once per process; every notebook's child is forked with them
        kernel_dir = tempfile.mkdtemp(prefix="bk-trusted-")
        try:
            workdir = os.path.abspath(resources.get("metadata", {}).get("path") or ".")
            spec = self._sandbox_spec(workdir)
            sources = [c.source for c in self._cells.values()]
            self._shell = TrustedShell(kernel_dir, (workdir, sources, spec))
            nb.metadata["language_info"] = dict(LANGUAGE_INFO)
            started = False
            last = last_graded_cell(nb)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if index > last:  # nothing after the last graded cell can change a grade
                    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                           text=NOT_RUN_NOTE)]
                    continue
                if not started:
                    started = True
                    reply = self._shell.started(None if self.timeout is None
                                                else max(self.timeout, START_SECONDS))
                    if reply.status != "ok":
                        cell.outputs = [_notebook_output(o) for o in reply.outputs]
                        continue
                self._run(cell, index)
        finally:
            if self._shell is not None:
                self._shell.close()  # the answer server dies with it (bwrap --die-with-parent)
            if self._cgroup is not None:  # every process of the student's sandbox ends here
                self._cgroup.close()
            shutil.rmtree(kernel_dir, ignore_errors=True)
        for index, cell in enumerate(nb.cells):
            if self._role(cell) == "test" and index not in self._tests_run:
                cell.outputs.append(_error("the test cell was not run by the grading process"))
        return nb, resources

    def _sandbox_spec(self, workdir: str) -> dict | None:
        """What the trusted side needs to start the student's process in the sandbox."""
        if not self.sandbox:
            return None
        limits = self.limits
        if limits.processes is not None:
            self._cgroup = PidsCgroup.create(limits.processes)
        files = shipped_files(CourseDirectory(config=self.config),
                              self.resources["nbgrader"]["assignment"], workdir)
        zygote = zygote_address() if self.warm_start else None
        if self.warm_start and _zygote_failure["why"] and not _zygote_failure["logged"]:
            _zygote_failure["logged"] = True
            self.log.warning("warm starts unavailable, every notebook starts Python in its "
                             "sandbox: %s", _zygote_failure["why"])
        return {"files": files, "cgroup": str(self._cgroup.path) if self._cgroup else None,
                "limits": dataclasses.asdict(limits), "zygote": zygote}

    def _role(self, cell: NotebookNode) -> str:
        """"test", "setup" (another instructor cell) or "student"."""
        instructor = self._cells.get(_grade_id(cell))
        if cell.cell_type != "code" or instructor is None or cell.source != instructor.source:
            return "student"
        return "test" if instructor.is_test else "setup"

    def _run(self, cell: NotebookNode, index: int) -> None:
        """Run one code cell where its role says; its outputs as nbgrader will score them."""
        role = self._role(cell)
        if role != "test":
            outputs = self._in_student_process(cell, index, student=role == "student")
            if role == "student":
                cell.outputs = outputs
                return
        reply = self._shell.run_cell(cell.source, self.timeout)
        cell.outputs = [_notebook_output(o) for o in reply.outputs]
        if reply.execution_count is not None:
            cell.execution_count = reply.execution_count
        if reply.status == "timeout":
            cell.outputs.append(self._timeout_output())
        if role == "test":
            self._tests_run.add(index)
            if reply.status != "ok" and not any(o.output_type == "error" for o in cell.outputs):
                cell.outputs.append(_error("the grading process did not finish this test cell"))

    def _in_student_process(self, cell: NotebookNode, index: int,
                            student: bool) -> list[NotebookNode]:
        """Run a cell in the student's process; its outputs, checked (they are the student's)."""
        reply = self._shell.run_student_cell(cell.source, student, self.timeout)
        outputs = [o for o in map(_student_output, reply.outputs) if o is not None]
        if reply.status == "timeout":
            outputs.append(self._timeout_output())
        elif reply.status != "ok" and not any(o.output_type == "error" for o in outputs):
            outputs.append(_error("the student's process sent nothing"))
        return outputs

    def _timeout_output(self) -> NotebookNode:
        """nbgrader's error for a cell past its time limit (``Execute.error_on_timeout``)."""
        fields = self.error_on_timeout or {"ename": "CellTimeoutError", "evalue": "",
                                           "traceback": ["CellTimeoutError"]}
        return nbformat.v4.new_output("error", ename=fields["ename"], evalue=fields["evalue"],
                                      traceback=list(fields["traceback"]))


#: What a code cell after the last graded cell shows in the autograded notebook and feedback.
NOT_RUN_NOTE = ("(not run while grading: no graded cell comes after this one, so it cannot "
                "change a grade; run it in your own notebook)\n")


def last_graded_cell(nb: NotebookNode) -> int:
    """Index of the last cell that nbgrader grades or that holds an answer (-1 if none).

    The code cells after it (the closing experiments and plots of a notebook) are not run
    while grading: no test reads what they compute.
    """
    marked = [index for index, cell in enumerate(nb.cells)
              if any(cell.get("metadata", {}).get("nbgrader", {}).get(key)
                     for key in ("grade", "solution", "task"))]
    return max(marked, default=-1)


def _notebook_output(item: dict) -> NotebookNode:
    """A notebook output from the trusted shell's dict (trusted: made by our own code)."""
    return nbformat.from_dict(item)


def _error(message: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename="GradingError", evalue=message,
                                  traceback=[f"GradingError: {message}"])
