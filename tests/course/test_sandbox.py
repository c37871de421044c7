"""The sandbox command itself: what a process inside sees, may write and may start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from backprop_course.feedback import SanitizeFeedback
from backprop_course.sandbox import (
    PidsCgroup,
    SandboxLimits,
    matplotlib_font_list,
    require_sandbox,
    sandboxed_command,
)

PROBE = r'''
import json, os, socket, sys, pathlib
seen = {"pid": os.getpid(), "files": sorted(os.listdir(".")), "safe_path": sys.flags.safe_path,
        "shipped": open("data.csv").read()}
for name, path in (("secret", sys.argv[1]), ("repo_write", sys.argv[2] + "/planted")):
    try:
        if name == "secret":
            open(path).read()
        else:
            open(path, "w").write("x")
        seen[name] = "allowed"
    except OSError as error:
        seen[name] = type(error).__name__
pathlib.Path("scratch.txt").write_text("temporary")
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2)
    seen["network"] = "connected"
except OSError as error:
    seen["network"] = type(error).__name__
forks = 0
try:
    while forks < 300:
        if os.fork() == 0:
            import time; time.sleep(30); os._exit(0)
        forks += 1
except OSError:
    pass
seen["forks"] = forks
print(json.dumps(seen))
'''


@pytest.fixture(scope="module")
def sandbox_ok():
    require_sandbox()


def test_a_process_sees_only_its_workdir_files_and_cannot_escape(sandbox_ok, tmp_path):
    workdir = tmp_path / "autograded" / "ada" / "tiny"
    workdir.mkdir(parents=True)
    (workdir / "data.csv").write_text("1,2\n")
    (workdir / "backprop_grading.py").write_text("raise SystemExit('shadowed')\n")
    secret = tmp_path / "solutions.txt"
    secret.write_text("the answers")
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    limits = SandboxLimits(processes=40)
    cgroup = PidsCgroup.create(limits.processes)
    try:
        command = sandboxed_command(
            [sys.executable, str(script), str(secret), str(sys.prefix)], workdir=workdir,
            files=[workdir / "data.csv"], readable=[script], limits=limits, cgroup=cgroup)
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        cgroup.close()
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["files"] == ["data.csv"], "only the shipped file; no submitted extra file"
    assert seen["shipped"] == "1,2\n"
    assert (seen["pid"], seen["safe_path"]) == (2, True)
    assert seen["secret"] == "FileNotFoundError"
    assert seen["repo_write"] in ("OSError", "PermissionError")  # read-only file system
    assert seen["network"] == "ConnectionRefusedError"
    assert 20 < seen["forks"] < 40, "the pids cgroup caps processes, also for root"
    assert sorted(p.name for p in workdir.iterdir()) == ["backprop_grading.py", "data.csv"]
    assert not (tmp_path / "planted").exists() and not cgroup.path.exists()


FONTS_PROBE = r'''
import json, os
import matplotlib
cache = os.path.join(matplotlib.get_cachedir(), os.listdir(matplotlib.get_cachedir())[0])
from matplotlib import font_manager
try:
    open(cache, "a").close()
    writable = True
except OSError:
    writable = False
print(json.dumps({"fonts": sorted(f.fname for f in font_manager.fontManager.ttflist),
                  "cache": cache, "writable": writable}))
'''


def test_pyplot_in_the_sandbox_reads_the_graders_font_list_and_cannot_change_it(
        sandbox_ok, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib import font_manager

    home_files = matplotlib_font_list()
    command = sandboxed_command([sys.executable, "-c", FONTS_PROBE], workdir=tmp_path,
                                home_files=home_files, limits=SandboxLimits(processes=None))
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stderr) == (0, ""), "no font search, no fontconfig error"
    seen = json.loads(run.stdout)
    assert seen["cache"] == f"/home/student/{next(iter(home_files))}"
    assert seen["fonts"] == sorted(f.fname for f in font_manager.fontManager.ttflist)
    assert not seen["writable"]


@pytest.mark.parametrize(("argv", "options", "message"), [
    (["python3"], {}, "absolute path, got 'python3'"),
    ([sys.executable], {"files": ["/etc/passwd"]}, "must lie under the working directory"),
    ([sys.executable], {"limits": SandboxLimits(processes=8)}, "a PidsCgroup is needed"),
    ([sys.executable], {"home_files": {"../../etc/x": "/etc/passwd"}}, "paths inside HOME"),
    ([sys.executable], {"home_files": {"/etc/x": "/etc/passwd"}}, "paths inside HOME"),
])
def test_sandboxed_command_rejects_what_it_cannot_honour(tmp_path, argv, options, message):
    with pytest.raises(ValueError, match=message):
        sandboxed_command(argv, workdir=tmp_path, **{"limits": SandboxLimits(processes=None),
                                                     **options})


def test_feedback_markdown_keeps_its_text_but_runs_nothing():
    markdown = ("# Notes\n\nSee <script>alert(1)</script> and <img src=x onerror=alert(2)>\n\n"
                "[bad](javascript:alert(3)) [good](https://example.org)\n\n"
                "```python\ndef f():\n\n    return 1\n```")
    nb, _ = SanitizeFeedback().preprocess(new_notebook(cells=[new_markdown_cell(markdown)]), {})
    html = nb.cells[0].source
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "onerror" not in html and "javascript:" not in html
    assert '<a href="https://example.org">good</a>' in html
    assert "\n" not in html and "&#10;&#10;" in html, "one markdown HTML block; the blank line kept"


def test_the_formgraders_view_of_a_submission_runs_nothing_from_student_content(tmp_path):
    """The formgrader renders each autograded notebook with an ``HTMLExporter`` made from the
    course's configuration (nbgrader's ``FormgradeExtension``, template ``formgrade``): a
    script in a student's markdown or output would run in the instructor's session."""
    from conftest import REPO
    from nbconvert.exporters import HTMLExporter
    from nbformat.v4 import new_code_cell, new_output
    from nbgrader.server_extensions.formgrader import handlers

    from backprop_course import course_config

    config = course_config(tmp_path, config_dir=REPO)
    config.HTMLExporter.template_name = "formgrade"  # what FormgradeExtension adds
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    nb = new_notebook(cells=[
        new_markdown_cell("My answer <script>steal(document.cookie)</script> "
                          "<img src=x onerror=steal(1)> [x](javascript:steal(2))"),
        new_code_cell("display(HTML(...))", outputs=[
            new_output("display_data", data={"text/html": "<b>ok</b><script>steal(3)</script>",
                                             "application/javascript": "steal(4)",
                                             "text/plain": "ok"})])])
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources={
        "assignment_id": "a", "notebook_id": "n", "submission_id": "s", "index": 0, "total": 1,
        "base_url": "", "student": "ada", "last_name": "", "first_name": "",
        "notebook_path": "a/n.ipynb"})
    assert "My answer" in html and "<b>ok</b>" in html
    for planted in ("steal(document.cookie)</script>", "onerror=", "javascript:steal",
                    "<script>steal(3)", "steal(4)"):
        assert planted not in html, planted


def test_the_sandbox_is_checked_once_a_process_tree_and_per_memory_cap(sandbox_ok, monkeypatch):
    """A grading process forked after the coordinator's check trusts it; a check under other
    limits still runs, and a failed check is not remembered."""
    from backprop_course import sandbox

    monkeypatch.setattr(sandbox, "_working", set())
    runs = []
    real_run = sandbox.subprocess.run

    def counted(*args, **kwargs):
        runs.append(args[0])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(sandbox.subprocess, "run", counted)
    sandbox.require_sandbox_once()  # nothing checked yet in this process
    assert len(runs) == 1
    capped = SandboxLimits(memory_bytes=3 * 2**30)
    sandbox.require_sandbox(capped)  # the coordinator's check, with its memory cap
    assert len(runs) == 2
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a grading process: neither check runs again
        sandbox.require_sandbox_once()
        sandbox.require_sandbox_once(capped)
        os.write(write, str(len(runs)).encode())
        os._exit(0)
    os.close(write)
    assert os.read(read, 16) == b"2"
    os.waitpid(child, 0)
    os.close(read)
    sandbox.require_sandbox_once(SandboxLimits(memory_bytes=2 * 2**30))  # other limits: checked
    assert len(runs) == 3
    monkeypatch.setattr(sandbox.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a[0], 1, "", "bwrap: No permissions to create new namespace"))
    odd = SandboxLimits(memory_bytes=5 * 2**30)
    for _ in range(2):  # a failure is reported every time, never cached
        with pytest.raises(sandbox.SandboxUnavailable, match="No permissions"):
            sandbox.require_sandbox_once(odd)
