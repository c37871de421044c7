"""Attacks on the grader from inside a submission fail in the bubblewrap sandbox.

Issue 14's kinds, at least two attacks each, all graded in ONE run of the class grader
(2 workers) on the tiny assignment of test_instructor_tiny_course.py, beside a victim with a
correct notebook; then a later run grades the victim and a friend's blank notebook again (what
a planted file or a surviving process would change). Every attack is built so that it EARNS
POINTS, or leaves a trace, when it works:

- B: files beside the notebook that shadow imports (a fake ``backprop_grading`` package; a fake
  ``ipykernel_launcher.py`` that preloads it) would give wrong answers full marks;
- C: reading the instructor's solution or the victim's submission and running its answers would
  give full marks; reading the gradebook would print the hidden tests into the output;
- D: processes that leave the kernel's session (``start_new_session``, a double fork) sleep,
  then would rewrite the gradebook, overwrite the victim's submission and kill kernels;
- E: a ``.pth`` file in site-packages and an IPython startup file under HOME would give every
  later notebook (the friend's blank one) full marks; a write into the kit's sources likewise;
- G: ``<script>``, ``onerror=`` and ``javascript:`` in markdown and in outputs, and student ids
  that a spreadsheet runs as formulas;
- H: a fork bomb, a thread bomb, filling the disk.

After the runs: no points that were not earned, the victim's grades and files unchanged, no
process left (each attack's processes carry a marker in their command line), nothing written
outside the temporary course, feedback HTML and CSV safe.
"""

from __future__ import annotations

import hashlib
import json
import site
import uuid
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import REPO
from nbformat.v4 import new_markdown_cell
from test_hostile_submissions import FULL, NONE, RIGHT_G, RIGHT_S, WRONG_G, WRONG_S
from tiny_assignment import ASSIGNMENT, HIDDEN_CODE, released, tiny_course, with_cells

from backprop_course import grade_class, submit_notebook
from backprop_course.report import csv_safe
from backprop_course.sandbox import SandboxUnavailable, require_sandbox

#: Unique to this run: in every file an attack writes and every process it starts.
MARK = f"bkattack{uuid.uuid4().hex[:10]}"
HOST_HOME = Path.home()
SITE_PACKAGES = Path(site.getsitepackages()[0])
LIMITS = {"timeout_per_notebook": 20.0,
          "memory_bytes": max(2 * 2**30, psutil.Process().memory_info().vms + 2**30)}
CELL_SECONDS = 5


#: A backprop_grading whose checks pass everything and whose rubric gives every point.
FAKE_GRADING = '''\
import contextlib
class GradingFailure(Exception):
    pass
def check(*args, **kwargs):
    pass
check_close = check_shape = check
def call(f, *args, forbid=(), **kwargs):
    return f(*args, **kwargs)
class Rubric:
    def part(self, points, name=""):
        return contextlib.suppress(Exception)
    def score(self):
        return 3
'''
#: Python run at kernel start-up, if the attack can plant it: the checks pass everything.
PLANTED = ("import builtins; builtins.__dict__.setdefault('_bk_planted', True)\n"
           "import backprop_grading as g\n"
           "g.check = g.check_close = g.check_shape = lambda *a, **k: None\n")
COURSE_ROOT = "pathlib.Path.cwd().parents[2]"  # autograded/<student>/<assignment> -> the course


def _wrong_with(prelude: str) -> dict[str, str]:
    return {"sigmoid": f"{prelude}\n{WRONG_S}", "sigmoid_grad": WRONG_G}


def _exec_answers_from(path_expression: str) -> str:
    """Answer-cell code: run the answer cells of the notebook at ``path_expression``."""
    return f'''import json, pathlib
try:
    for cell in json.loads(({path_expression}).read_text())["cells"]:
        if cell["metadata"].get("nbgrader", {{}}).get("solution"):
            exec("".join(cell["source"]).replace("### BEGIN SOLUTION", "")
                 .replace("### END SOLUTION", ""))
except OSError as error:
    print("could not read:", error)'''


def _background(code: str, *, double_fork: bool) -> str:
    """Answer-cell code that leaves ``code`` running in a process outside the kernel's session."""
    script = f"# {MARK}\nimport time\ntime.sleep(4)\n{code}"
    if not double_fork:
        return ("import subprocess, sys\n"
                f"subprocess.Popen([sys.executable, '-c', {script!r}], start_new_session=True)")
    return f'''import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", {script!r}])
    os._exit(0)
os.wait()'''


REWRITE_GRADEBOOK = f'''import pathlib, sqlite3
db = sqlite3.connect(str({COURSE_ROOT} / "gradebook.db"))
db.execute("UPDATE grade SET auto_score = 99")
db.commit()'''
KILL_AND_OVERWRITE = f'''import os, pathlib, signal
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
victim = {COURSE_ROOT} / "submitted" / "victim" / "{ASSIGNMENT}" / "{ASSIGNMENT}.ipynb"
victim.write_text("{{}}")'''

FORK_BOMB = f'''import os
forks = 0
try:
    while forks < 5000:
        if os.fork() == 0:
            os.execv("/bin/sh", ["sh", "-c", "sleep 60 # {MARK}"])
        forks += 1
except OSError as error:
    print("fork refused after", forks, error)'''
THREAD_BOMB = '''import threading, time
threads = 0
try:
    while threads < 20000:
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        threads += 1
except RuntimeError as error:
    print("thread refused after", threads, error)'''
DISK_FILL = f'''import os
for folder in (".", os.environ["HOME"], "/tmp"):
    written = 0
    try:
        with open(os.path.join(folder, "{MARK}.fill"), "wb") as stream:
            while written < 4 * 2**30:
                stream.write(b"x" * 2**20)
                stream.flush()
                written += 2**20
    except OSError as error:
        print("disk refused after", written // 2**20, "MiB in", folder, error.strerror)'''

MARKDOWN_INJECTION = (f'<script>alert("{MARK}-script")</script>\n\n'
                      f'<img src="x" onerror="alert(\'{MARK}-onerror\')">\n\n'
                      f'[click](javascript:alert(\'{MARK}-js\'))')
OUTPUT_INJECTION = f'''from IPython.display import HTML, Javascript, display
display(HTML('<script>alert("{MARK}-out-script")</script>'
             '<b onclick="alert(\'{MARK}-onclick\')">{MARK}-bold</b>'))
display(Javascript('alert("{MARK}-out-js")'))
print('<script>alert("{MARK}-print")</script>')'''

#: student -> answer-cell sources (None: the victim's right answers), extra files to submit.
ATTACKS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "b_fake_grading_package": (_wrong_with(""), {"backprop_grading/__init__.py": FAKE_GRADING}),
    "b_fake_kernel_launcher": (_wrong_with(""), {"ipykernel_launcher.py": (
        "import os, runpy, sys, types\n"
        f"fake = types.ModuleType('backprop_grading')\nexec({FAKE_GRADING!r}, fake.__dict__)\n"
        "sys.modules['backprop_grading'] = fake\n"
        "sys.path[:] = [p for p in sys.path if p not in ('', os.getcwd())]\n"
        "del sys.modules['ipykernel_launcher']\n"
        "runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)\n")}),
    "c_reads_solution": ({"sigmoid": _exec_answers_from(
        f"{COURSE_ROOT} / 'solutions' / '{ASSIGNMENT}' / '{ASSIGNMENT}.ipynb'"),
        "sigmoid_grad": WRONG_G}, {}),
    "c_copies_victim": ({"sigmoid": _exec_answers_from(
        f"{COURSE_ROOT} / 'submitted' / 'victim' / '{ASSIGNMENT}' / '{ASSIGNMENT}.ipynb'"),
        "sigmoid_grad": WRONG_G}, {}),
    "c_reads_gradebook": (_wrong_with(f'''import pathlib, sqlite3
try:
    db = sqlite3.connect(f"file:{{{COURSE_ROOT} / 'gradebook.db'}}?mode=ro", uri=True)
    print([row for row in db.execute("SELECT source FROM source_cell")])
except sqlite3.Error as error:
    print("no gradebook:", error)'''), {}),
    "d_new_session": (_wrong_with(_background(REWRITE_GRADEBOOK, double_fork=False)), {}),
    "d_double_fork": (_wrong_with(_background(KILL_AND_OVERWRITE, double_fork=True)), {}),
    "e_pth_in_site_packages": (_wrong_with(f'''import site
for folder in site.getsitepackages():
    try:
        with open(f"{{folder}}/{MARK}.pth", "w") as stream:
            stream.write("import builtins; builtins.print('{MARK}')\\n")
    except OSError as error:
        print("no site-packages:", error)'''), {}),
    "e_ipython_startup": (_wrong_with(f'''import pathlib
for home in (pathlib.Path.home(), pathlib.Path("{HOST_HOME}")):
    startup = home / ".ipython" / "profile_default" / "startup"
    try:
        startup.mkdir(parents=True, exist_ok=True)
        (startup / "00-{MARK}.py").write_text({PLANTED!r})
    except OSError as error:
        print("no startup folder:", error)'''), {}),
    "e_kit_source": (_wrong_with(f'''import backprop_grading
try:
    with open(backprop_grading.__file__, "a") as stream:
        stream.write("\\n# {MARK}\\n")
except OSError as error:
    print("read-only kit:", error)'''), {}),
    "g_markdown_injection": (_wrong_with(""), {f"<img src=x onerror=alert({MARK}-name)>.txt": ""}),
    "g_output_injection": (_wrong_with(OUTPUT_INJECTION), {}),
    "=HYPERLINK(1)": (_wrong_with(""), {}),
    "@SUM(1)": (_wrong_with(""), {}),
    "h_fork_bomb": (_wrong_with(FORK_BOMB), {}),
    "h_thread_bomb": (_wrong_with(THREAD_BOMB), {}),
    "h_disk_fill": (_wrong_with(DISK_FILL), {}),
}
VICTIMS = ("victim", "friend_blank")


def _sha256(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _marked_processes() -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if MARK in cmdline:
            found.append(cmdline)
    return found


def _marked_files() -> list[Path]:
    places = [Path("/tmp"), HOST_HOME, HOST_HOME / ".ipython" / "profile_default" / "startup",
              SITE_PACKAGES, REPO, REPO / "backprop_grading"]
    return [path for place in places if place.is_dir() for path in place.glob(f"*{MARK}*")]


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Grade every attack and the victim in one run, then the victims again in a later run."""
    require_sandbox()
    course = tiny_course(tmp_path_factory.mktemp("attacks"), cell_timeout=CELL_SECONDS)
    # As the course's notebooks are graded: test cells in a trusted shell, the student's cells
    # in a sandboxed process (backprop_course.trusted); the sandbox's limits are the same.
    course.config.TrustedExecute.tmpfs_bytes = 64 * 2**20
    course.config.TrustedExecute.file_bytes = 32 * 2**20
    release = released(course)
    kit_source = _sha256(REPO / "backprop_grading")
    submit_notebook(course.path("submitted", ASSIGNMENT, "victim"),
                    with_cells(release, sigmoid=RIGHT_S, sigmoid_grad=RIGHT_G), ASSIGNMENT)
    submit_notebook(course.path("submitted", ASSIGNMENT, "friend_blank"), release, ASSIGNMENT)
    for student, (cells, files) in ATTACKS.items():
        folder = course.path("submitted", ASSIGNMENT, student)
        notebook = with_cells(release, **cells)
        if student == "g_markdown_injection":
            notebook.cells.insert(1, new_markdown_cell(MARKDOWN_INJECTION))
        submit_notebook(folder, notebook, ASSIGNMENT)
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    submitted = _sha256(course.path("submitted", ".", "."))
    report = grade_class(course, ASSIGNMENT, workers=2, **LIMITS)
    processes_after_run = _marked_processes()
    later = grade_class(course, ASSIGNMENT, students=list(VICTIMS), **LIMITS)
    for student in ("g_markdown_injection", "g_output_injection"):
        course.feedback(ASSIGNMENT, student)
    csv_path = course.root / "report.csv"
    report.write_csv(csv_path)
    return {"course": course, "report": report, "later": later, "submitted": submitted,
            "processes": processes_after_run, "kit_source": kit_source, "csv": csv_path}


def _output(course, student: str) -> str:
    """Every output text of a student's autograded notebook."""
    path = course.path("autograded", ASSIGNMENT, student) / f"{ASSIGNMENT}.ipynb"
    return json.dumps([cell.get("outputs", []) for cell in nbformat.read(path, 4).cells])


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_attack_earns_no_points(attacked, student):
    row = attacked["report"].row(student)
    assert row.scores == NONE, (row.status, row.detail)
    assert attacked["course"].scores(ASSIGNMENT, student) == NONE


def test_the_victim_keeps_full_marks_in_the_same_and_a_later_run(attacked):
    course = attacked["course"]
    assert attacked["report"].row("victim").scores == FULL
    assert attacked["later"].row("victim").scores == FULL
    assert course.scores(ASSIGNMENT, "victim") == FULL


def test_a_friends_blank_notebook_graded_later_scores_nothing(attacked):
    """Neither the .pth file nor the IPython startup file (E) survived into a later kernel."""
    assert attacked["report"].row("friend_blank").scores == NONE
    assert attacked["later"].row("friend_blank").scores == NONE


def test_submitted_files_are_byte_identical_after_grading(attacked):
    course = attacked["course"]
    assert _sha256(course.path("submitted", ".", ".")) == attacked["submitted"]


def test_no_attack_process_outlives_its_run(attacked):
    assert attacked["processes"] == []
    assert _marked_processes() == []


def test_nothing_is_written_outside_the_course(attacked):
    assert _marked_files() == []
    assert _sha256(REPO / "backprop_grading") == attacked["kit_source"]


def test_files_beside_the_notebook_are_flagged_and_not_importable(attacked):
    for student in ("b_fake_grading_package", "b_fake_kernel_launcher"):
        flags = [flag for flag in attacked["report"].row(student).flags
                 if flag.kind == "extra-files"]
        assert len(flags) == 1, attacked["report"].row(student).flags
    row = attacked["report"].row("b_fake_grading_package")
    assert [f.where for f in row.flags if f.kind == "extra-files"] == [
        "backprop_grading/__init__.py"]
    assert not any(f.kind == "extra-files" for f in attacked["report"].row("victim").flags)


def test_course_files_are_not_readable_from_the_kernel(attacked):
    course = attacked["course"]
    for student in ("c_reads_solution", "c_copies_victim"):
        assert "could not read:" in _output(course, student), student
    gradebook_output = _output(course, "c_reads_gradebook")
    assert "no gradebook:" in gradebook_output
    assert HIDDEN_CODE not in gradebook_output


def test_persistence_attempts_hit_read_only_or_private_folders(attacked):
    course = attacked["course"]
    assert "no site-packages:" in _output(course, "e_pth_in_site_packages")
    assert "read-only kit:" in _output(course, "e_kit_source")


def test_resource_bombs_are_stopped_by_the_limits(attacked):
    course = attacked["course"]
    forks = _output(course, "h_fork_bomb")
    assert "fork refused after" in forks
    assert int(forks.split("fork refused after ")[1].split()[0]) < 200
    assert "thread refused after" in _output(course, "h_thread_bomb")
    filled = _output(course, "h_disk_fill")
    assert filled.count("disk refused after") == 3, filled
    for line in filled.split("disk refused after ")[1:]:
        assert int(line.split()[0]) <= 64, line


class _ActiveContent(HTMLParser):
    """What a browser would run from an HTML page: script text, on* attributes, javascript:
    URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.found.append(data)


def test_feedback_html_runs_nothing_from_student_content(attacked):
    """Markdown, outputs, and the automatic comment that names a file handed in beside the
    notebook (a file name may hold markup)."""
    course = attacked["course"]
    for student in ("g_markdown_injection", "g_output_injection"):
        html = (course.path("feedback", ASSIGNMENT, student) / f"{ASSIGNMENT}.html").read_text()
        assert MARK in html, "the student's content is still shown, as text"
        parser = _ActiveContent()
        parser.feed(html)
        assert [active for active in parser.found if MARK in active] == [], student


def test_csv_report_escapes_formula_student_ids(attacked):
    lines = attacked["csv"].read_text().splitlines()
    firsts = {line.split(",")[0] for line in lines[1:]}
    assert {"'=HYPERLINK(1)", "'@SUM(1)"} <= firsts
    assert not any(line.startswith(("=", "+", "-", "@", "\t", "\r")) for line in lines)


@pytest.mark.parametrize(("cell", "written"), [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-1", "-1"), ("-0.5", "-0.5"), ("ada", "ada"), ("", ""),
])
def test_csv_cells_that_start_a_formula_get_a_quote(cell, written):
    assert csv_safe(cell) == written


def test_require_sandbox_names_the_fix_when_bwrap_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no bwrap, no prlimit
    with pytest.raises(SandboxUnavailable, match=r"bwrap .*not found.*apt-get install "
                                                 r"bubblewrap.*--no-sandbox"):
        require_sandbox()


def test_grade_command_stops_without_the_sandbox(monkeypatch, tmp_path, capsys):
    from backprop_course.__main__ import main

    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "nbgrader_config.py").write_text("")
    status = main(["grade", ASSIGNMENT, "--course-dir", str(tmp_path), "--no-progress"])
    assert status == 2
    assert "bubblewrap" in capsys.readouterr().err


def test_plain_nbgrader_autograde_with_the_course_config_is_sandboxed(tmp_path):
    """``NbGraderAPI.autograde`` (what ``nbgrader autograde`` runs) with nbgrader_config.py."""
    course = tiny_course(tmp_path / "course", cell_timeout=CELL_SECONDS)
    cells = {"sigmoid": _exec_answers_from(
        f"{COURSE_ROOT} / 'solutions' / '{ASSIGNMENT}' / '{ASSIGNMENT}.ipynb'"),
        "sigmoid_grad": WRONG_G}
    folder = course.path("submitted", ASSIGNMENT, "mallory")
    submit_notebook(folder, with_cells(released(course), **cells), ASSIGNMENT)
    (folder / "backprop_grading").mkdir()
    (folder / "backprop_grading" / "__init__.py").write_text(FAKE_GRADING)
    result = course.api.autograde(ASSIGNMENT, "mallory", force=True, create=True)
    assert result["success"], result["log"]
    assert course.scores(ASSIGNMENT, "mallory") == NONE
    assert "could not read:" in _output(course, "mallory")
