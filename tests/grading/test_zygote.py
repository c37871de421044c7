"""Warm starts (:mod:`backprop_course.trusted.zygote`): the student's process forked from the
pre-imported zygote is confined exactly as one started cold in its sandbox, cannot reach the
zygote, and leaves nothing for the next student's process."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import REPO
from test_hostile_submissions import FULL, RIGHT_G, RIGHT_S
from tiny_assignment import ASSIGNMENT, released, tiny_course, with_cells

from backprop_course import grade_class, submit_notebook
from backprop_course.sandbox import PidsCgroup, SandboxLimits, require_sandbox
from backprop_course.trusted import zygote
from backprop_course.trusted.kernel_side import Session

#: What the student's process can observe about its confinement, as JSON on stdout. Numbers
#: in descriptor links (pipe inodes) are masked: they differ between any two processes.
PROBE = r'''
import ctypes, json, os, re, resource, socket, sys, tempfile
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines()
              if ":\t" in line)
others = {}
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            others[pid] = stream.read().replace(b"\0", b" ").decode()
libc = ctypes.CDLL(None, use_errno=True)
def link(fd):  # None for the descriptor listdir itself held
    try:
        return re.sub(r"[0-9]+", "N", os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None
def opened(path):
    try:
        os.close(os.open(path, os.O_RDWR))
        return "opened"
    except OSError as error:
        return type(error).__name__
def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        return type(error).__name__
print(json.dumps({
    "status": {key: status[key].strip() for key in ("CapInh", "CapPrm", "CapEff", "CapBnd",
                                                     "CapAmb", "NoNewPrivs", "Uid", "Gid")},
    "root": listing("/"), "home": listing(os.environ["HOME"]), "tmp": listing("/tmp"),
    "cwd": os.getcwd(), "here": listing("."),
    "environ": {k: v for k, v in os.environ.items() if k != "PWD"},
    "pwd_is_cwd": os.environ.get("PWD") == os.getcwd(), "tempdir": tempfile.gettempdir(),
    "home_is": os.path.expanduser("~"), "argv": sys.argv, "path": sys.path, "flags": str(sys.flags),
    "limits": {name: resource.getrlimit(getattr(resource, name)) for name in
               ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_CORE")},
    "interfaces": [name for _, name in socket.if_nameindex()],
    "new_user_namespace": libc.unshare(0x10000000) == 0,
    "session": os.getsid(0), "terminal": opened("/dev/tty"),
    "cgroup": open("/proc/self/cgroup").read(),
    "fds": sorted({link(fd) for fd in os.listdir("/proc/self/fd")} - {None}),
    "namespaces": {name: os.readlink(f"/proc/self/ns/{name}") for name in
                   ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")},
    "pid": os.getpid(), "others": others,
}))
'''


@pytest.fixture(scope="module")
def address():
    require_sandbox()
    return zygote.start_zygote()


class Sandboxed:
    """A Session in a fresh sandbox, warm (from ``address``) or cold, closed on exit."""

    def __init__(self, folder, address: str | None) -> None:
        self.workdir = folder
        (folder / "shipped.csv").write_text("x\n1\n")
        self.cgroup = PidsCgroup.create(64)
        spec = {"files": [str(folder / "shipped.csv")], "cgroup": str(self.cgroup.path),
                "limits": dataclasses.asdict(SandboxLimits(processes=64)), "zygote": address}
        self.session = Session(str(folder), [], spec)

    def output(self, source: str) -> str:
        outputs = self.session.run(source, student=True)["outputs"]
        return "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")

    def probe(self) -> dict:
        return json.loads(self.output(PROBE))

    def close(self) -> None:
        self.session.process.kill()
        self.session.process.wait()
        self.cgroup.close()

    def __enter__(self) -> Sandboxed:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def test_a_warm_process_is_confined_exactly_like_a_cold_one(address, tmp_path):
    (tmp_path / "warm").mkdir()
    (tmp_path / "cold").mkdir()
    with Sandboxed(tmp_path / "warm", address) as warm:
        assert warm.session.warm
        seen_warm = warm.probe()
        placeholder = psutil.Process(warm.session.process.pid).children()[0].children()[0]
        host_view = {name: os.readlink(f"/proc/{placeholder.pid}/ns/{name}")
                     for name in seen_warm["namespaces"]}
    with Sandboxed(tmp_path / "cold", None) as cold:
        assert not cold.session.warm
        seen_cold = cold.probe()
    # the sandbox's own namespaces, none of the zygote's or the grader's
    assert seen_warm["namespaces"] == host_view
    assert all(os.readlink(f"/proc/self/ns/{name}") != value for name, value in host_view.items())
    # a sandbox's own, compared above and below; bwrap's init made the cold server's session,
    # the warm one makes its own: both without a terminal
    differ = {"pid", "others", "namespaces", "cwd", "session"}
    assert set(seen_warm) == set(seen_cold)
    for key in sorted(set(seen_warm) - differ):
        assert seen_warm[key] == seen_cold[key], key
    assert seen_warm["here"] == ["shipped.csv"]
    assert seen_warm["session"] == seen_warm["pid"] and seen_warm["terminal"] != "opened"
    assert seen_warm["status"]["CapEff"] == seen_warm["status"]["CapBnd"] == "0000000000000000"
    assert seen_warm["status"]["NoNewPrivs"] == "1"
    assert seen_warm["interfaces"] == ["lo"] and not seen_warm["new_user_namespace"]


def test_the_student_process_cannot_see_or_reach_the_zygote(address, tmp_path):
    with Sandboxed(tmp_path, address) as warm:
        seen = warm.probe()
        reached = warm.output(f"import os\nprint(os.path.exists({address!r}), "
                              f"os.path.exists({os.path.dirname(address)!r}))")
    # only the sandbox's init (bwrap) and the placeholder the zygote forked it beside
    assert sorted(seen["others"]) == ["1", "2"], seen["others"]
    assert "bwrap" in seen["others"]["1"]
    assert zygote.PLACEHOLDER in seen["others"]["2"]
    assert all("zygote" not in cmdline for cmdline in seen["others"].values())
    assert reached.split() == ["False", "False"]
    assert not any("socket" in fd for fd in seen["fds"]), seen["fds"]


def test_what_a_student_changes_does_not_reach_the_next_students_process(address, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    zygote_pid = [p.pid for p in psutil.process_iter(["cmdline"])
                  if zygote.BOOTSTRAP in (p.info["cmdline"] or ()) and address in p.info["cmdline"]]
    with Sandboxed(tmp_path / "a", address) as attacker:
        attacker.output("import numpy, random, sys, os\n"
                        "numpy.allclose = lambda *a, **k: True\n"
                        "random.random = lambda: 0.5\n"
                        "sys.modules['builtins'].planted = True\n"
                        "open('/tmp/planted', 'w').write('x')\n"
                        "open(os.path.expanduser('~/planted'), 'w').write('x')\n")
        planted = attacker.output("import numpy\nprint(numpy.allclose(1, 2))")
    with Sandboxed(tmp_path / "b", address) as next_one:
        seen = next_one.output("import numpy, random, os\n"
                               "print(numpy.allclose(1, 2), random.random() != 0.5,"
                               " 'planted' in dir(__builtins__),"
                               " os.path.exists('/tmp/planted'),"
                               " os.path.exists(os.path.expanduser('~/planted')))")
    assert planted.split() == ["True"]  # the attack worked in its own process
    assert seen.split() == ["False", "True", "False", "False", "False"]
    assert len(zygote_pid) == 1 and psutil.pid_exists(zygote_pid[0])


def test_two_warm_processes_get_different_random_numbers(address, tmp_path):
    draws = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        with Sandboxed(tmp_path / name, address) as run:
            draws.append(run.output("import numpy, random\n"
                                    "print(numpy.random.rand(), random.random())"))
    assert draws[0] != draws[1]


def test_nothing_of_a_warm_sandbox_outlives_it(address, tmp_path):
    warm = Sandboxed(tmp_path, address)
    pid = int(warm.output("import os, subprocess, sys\n"
                          "child = subprocess.Popen([sys.executable, '-c', 'import time; "
                          "time.sleep(60)'], start_new_session=True)\n"
                          "print(os.getpid())"))
    host_pids = warm.cgroup.pids()
    # the outer bwrap, init, the placeholder, the server, its child
    assert pid == 3 and len(host_pids) == 5, host_pids
    warm.close()
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
              for p in host_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in host_pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_a_dead_zygote_means_a_cold_start_not_a_failure(tmp_path):
    require_sandbox()
    with Sandboxed(tmp_path, str(tmp_path / "no-zygote-here")) as run:
        assert not run.session.warm
        assert run.output("print(6 * 7)").strip() == "42"
        run.session.log.seek(0)
        assert b"warm start failed, starting cold" in run.session.log.read()


LAUNCH_THEN_WAIT = """
import json, os, psutil
from backprop_course.trusted import zygote
launched = zygote.start_zygote(wait=False)
serving_at_launch = os.path.exists(launched)
ready = zygote.start_zygote()
zygotes = [child.pid for child in psutil.Process().children()]
print(json.dumps({"same": launched == ready, "serving_at_launch": serving_at_launch,
                  "serving": os.path.exists(ready), "zygotes": len(zygotes)}))
"""


def test_a_zygote_launched_early_is_waited_for_once_then_shared():
    """grade_class launches the zygote before anything else (``wait=False``) and the first run
    waits for it: the same one, serving by then, and no second zygote."""
    require_sandbox()
    run = subprocess.run([sys.executable, "-c", LAUNCH_THEN_WAIT], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout)
    assert facts == {"same": True, "serving_at_launch": False, "serving": True, "zygotes": 1}


@pytest.mark.parametrize("warm_start, pid", [(True, "3"), (False, "2")])
def test_the_grade_command_forks_answer_servers_from_one_zygote(tmp_path, warm_start, pid):
    """Through the whole pipeline: the answer server is the sandbox's third process when the
    zygote spawned it (init, placeholder, server), its second when Python started cold; and
    the runs forked from the grading process share its one zygote."""
    require_sandbox()
    course = tiny_course(tmp_path)
    course.config.TrustedExecute.warm_start = warm_start
    answer = RIGHT_S + "\nimport os\nprint('answer server', os.getpid())"
    students = ("ada", "ben", "cy")
    for student in students:
        submit_notebook(course.path("submitted", ASSIGNMENT, student),
                        with_cells(released(course), sigmoid=answer, sigmoid_grad=RIGHT_G),
                        ASSIGNMENT)
    log = Path(zygote.start_zygote()).with_name("zygote.log")
    spawned_before = log.read_text().count("answer server spawned")
    report = grade_class(course, ASSIGNMENT, workers=2)
    for student in students:
        assert report.row(student).scores == FULL
        path = course.path("autograded", ASSIGNMENT, student) / f"{ASSIGNMENT}.ipynb"
        texts = [output.get("text", "") for cell in nbformat.read(path, 4).cells
                 for output in cell.get("outputs", [])]
        assert f"answer server {pid}\n" in texts
    spawned = log.read_text().count("answer server spawned") - spawned_before
    assert spawned == (len(students) if warm_start else 0)


def test_a_warm_process_runs_notebook_01_with_its_figures(address, tmp_path):
    """Every code cell of notebook 01 (formulas, log axes, legends) in one warm process.

    matplotlib in the zygote must hold no open font file: the server closes inherited
    descriptors, and when the zygote drew a figure while warming up, 01's second figure
    crashed the process."""
    notebook = nbformat.read(REPO / "solutions" / "01_chain_rule" / "01_chain_rule.ipynb", 4)
    images = 0
    with Sandboxed(tmp_path, address) as warm:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                outputs = warm.session.run(cell.source, student=True)["outputs"]
                assert not [o for o in outputs if o["output_type"] == "error"], cell.source
                images += sum("image/png" in o.get("data", {}) for o in outputs)
    assert images >= 2


def test_the_zygote_refuses_what_is_not_a_fresh_sandbox_and_keeps_serving(address, tmp_path):
    """Asked to spawn beside a process tree shaped like a sandbox's (outer process, its one
    child, that one's one child) whose last process is not the placeholder, the zygote joins
    nothing."""
    sleeper = subprocess.Popen(["/bin/sh", "-c", "/bin/sh -c 'sleep 30; :' & wait"])
    try:
        time.sleep(0.2)
        ends = [os.pipe(), os.pipe()]
        with pytest.raises(zygote.ZygoteError, match="not a sandbox's placeholder"):
            zygote.spawn(address, sleeper.pid, None, [ends[0][0], ends[1][1], 2])
        for read, write in ends:
            os.close(read)
            os.close(write)
    finally:
        sleeper.kill()
        sleeper.wait()
    with Sandboxed(tmp_path, address) as warm:
        assert warm.session.warm and warm.output("print(6 * 7)").strip() == "42"
