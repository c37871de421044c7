"""Project files: dependency lists agree, code is lint-clean, CI runs the README command."""

import re
import subprocess
import sys

from conftest import REPO


def _requirement_names(lines):
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        line = line[2:].strip() if line.startswith("- ") else line  # a YAML list item
        if not line or line.startswith("-") or line.endswith(":"):
            continue  # pip options such as -e, and YAML keys
        match = re.match(r"[A-Za-z0-9_.\-]+", line)
        if match:
            names.add(match.group(0).lower().replace("_", "-"))
    return names


def test_environment_yml_installs_what_requirements_txt_does():
    pip_reqs = (REPO / "requirements.txt").read_text().splitlines()
    conda = (REPO / "environment.yml").read_text()
    deps = conda.split("dependencies:", 1)[1].splitlines()
    conda_names = _requirement_names(ln for ln in deps if not ln.strip().startswith("- pip:"))
    conda_names -= {"python", "pip"}
    assert _requirement_names(pip_reqs) == conda_names
    assert "-e ." in conda and "-e ." in pip_reqs


def test_pinned_versions_agree():
    def pins(text):
        return dict(re.findall(r"([A-Za-z0-9_\-]+)\s*(==[^\s#]+)", text))

    requirements = (REPO / "requirements.txt").read_text()
    assert pins(requirements) == pins((REPO / "environment.yml").read_text())


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    match = re.search(r"run the tests[^`]*`([^`]+)`", readme, re.IGNORECASE)
    assert match, "README must say 'run the tests ... `<command>`'"
    ci_lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    assert match.group(1) in ci_lines


def test_code_is_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(REPO)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
