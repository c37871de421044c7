"""Where contributors look: the GitHub workflow runs .ci/run; pre-commit runs our checks."""

import yaml
from conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
PRE_COMMIT = REPO / ".pre-commit-config.yaml"


def _load(path):
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"
    return yaml.safe_load(path.read_text())


def _hooks(repo_url):
    """The hooks (id -> hook mapping) that .pre-commit-config.yaml takes from ``repo_url``."""
    repos = [r for r in _load(PRE_COMMIT)["repos"] if r["repo"] == repo_url]
    assert repos, f".pre-commit-config.yaml names no hooks from {repo_url}"
    for repo in repos:
        if repo_url != "local":
            rev = str(repo.get("rev", ""))
            assert rev and rev not in {"main", "master", "HEAD"}, f"{repo_url}: pin a release"
    return {hook["id"]: hook for repo in repos for hook in repo["hooks"]}


def test_workflow_runs_ci_script_on_ubuntu_with_python_311():
    workflow = _load(WORKFLOW)
    # YAML 1.1 reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request"} <= set(triggers), f"workflow triggers: {triggers}"
    jobs = [job for job in workflow["jobs"].values()
            if any(step.get("run", "").strip() == "bash .ci/run" for step in job["steps"])]
    assert jobs, "no job of ci.yml has a step `run: bash .ci/run`"
    for job in jobs:
        assert str(job["runs-on"]).startswith("ubuntu"), f"runs-on: {job['runs-on']}"
        image = job.get("container", {}).get("image", "")
        setup = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python")]
        versions = [str(s.get("with", {}).get("python-version")) for s in setup]
        assert image.startswith("python:3.11") or versions == ["3.11"], (
            f"the job must run Python 3.11; container image {image!r}, setup-python {versions}")
        assert any(s.get("uses", "").startswith("actions/checkout") for s in job["steps"])
        # torch==2.13.0 from PyPI is the multi-GB CUDA build on Linux: take PyTorch's CPU index.
        assert job.get("env", {}).get("PIP_EXTRA_INDEX_URL") == \
            "https://download.pytorch.org/whl/cpu", "the job must install PyTorch's CPU build"


def test_ci_script_installs_the_browser_test_packages():
    script = (REPO / ".ci" / "run").read_text()
    for package in ("chromium", "chromium-driver"):
        assert f"missing+=({package})" in script, f".ci/run does not install {package}"


def test_pre_commit_runs_ruff():
    assert "ruff-check" in _hooks("https://github.com/astral-sh/ruff-pre-commit")


def test_pre_commit_strips_outputs_but_keeps_cell_ids():
    hook = _hooks("https://github.com/kynan/nbstripout").get("nbstripout")
    assert hook, "the nbstripout hook is not enabled"
    # nbgrader copies cell ids into the release; renumbered ids would put it out of sync.
    assert "--keep-id" in hook.get("args", []), f"nbstripout args: {hook.get('args')}"


def test_pre_commit_checks_the_release_is_in_sync():
    hooks = [h for h in _hooks("local").values() if "test_release_sync.py" in h["entry"]]
    assert len(hooks) == 1, "one local hook must run tests/notebooks/test_release_sync.py"
    hook = hooks[0]
    assert hook["entry"].split() == ["pytest", "-n", "0", "tests/notebooks/test_release_sync.py"]
    assert (REPO / hook["entry"].split()[-1]).is_file()
    assert hook.get("pass_filenames") is False, "the sync test takes no file names"
    assert hook["language"] == "system", "it needs the developer's environment (nbgrader)"
