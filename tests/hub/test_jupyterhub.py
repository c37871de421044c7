"""The course on a real JupyterHub, started from the shipped deploy/jupyterhub_config.py.

One hub for the module, in trial mode (a shared password, every server as this user) on
127.0.0.1, over a temporary copy of the course: JupyterHub, its configurable-http-proxy, the
formgrader service and, in one test, a student's single-user server. Everything is stopped by
the PIDs it was started with. Skipped only where jupyterhub or configurable-http-proxy (npm;
.ci/run installs it into .ci/npm/) is missing. The config's own checks run without a hub.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO
from traitlets.config import PyFileConfigLoader
from waiting import wait_for

CONFIG = REPO / "deploy" / "jupyterhub_config.py"
# Where .ci/run puts npm's configurable-http-proxy when it is not on PATH.
NPM_BIN = REPO / ".ci" / "npm" / "node_modules" / ".bin"
INSTRUCTOR, STUDENT, OTHER_STUDENT = "grace", "ada", "alan"
# The course's assignments (nbgrader's source) and their student versions (its release).
SOURCE = sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb"))
RELEASE = sorted(p.name for p in (REPO / "notebooks").iterdir() if p.is_dir())


def _missing_hub() -> str | None:
    """Why a hub cannot start here (a sentence), or None when it can."""
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed: pip install -e '.[dev]'"
    proxy = shutil.which("configurable-http-proxy",
                         path=f"{NPM_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if proxy is None:
        return ("configurable-http-proxy (npm) not found on PATH or in .ci/npm/: "
                "npm install --prefix .ci/npm configurable-http-proxy (.ci/run does)")
    try:
        run = subprocess.run([proxy, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{proxy} --version did not run: {error}"
    if run.returncode != 0:
        return f"{proxy} --version failed: {run.stderr.strip()[-300:]}"
    return None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _load_config(monkeypatch, **environment: str):
    """The shipped config as JupyterHub loads it, with ``environment`` set (others unset)."""
    for name in list(os.environ):
        if name.startswith("BACKPROP_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


def test_the_shipped_config_defaults_to_system_accounts(monkeypatch):
    config = _load_config(monkeypatch)
    hub = config.JupyterHub
    assert "authenticator_class" not in hub and "spawner_class" not in hub, \
        "system mode must keep JupyterHub's PAM login and per-account servers"
    service = hub.services[0]
    assert service["user"] == "instructor" and service["cwd"] == str(REPO)
    assert config.Authenticator.allowed_users == {"instructor"}
    assert hub.load_groups["formgrade-backprop"] == {"users": ["instructor"]}


def test_the_shipped_config_refuses_a_trial_without_a_long_password(monkeypatch):
    with pytest.raises(ValueError, match="BACKPROP_HUB_PASSWORD, of at least 8"):
        _load_config(monkeypatch, BACKPROP_HUB_MODE="trial", BACKPROP_HUB_PASSWORD="7 chars")
    with pytest.raises(FileNotFoundError, match="holds no nbgrader_config.py"):
        _load_config(monkeypatch, BACKPROP_COURSE_DIR=str(REPO / "solutions"))


@dataclass
class Hub:
    url: str
    course: Path
    homes: Path
    password: str

    def login(self, user: str):
        """A requests session logged in as ``user`` through the hub's login form."""
        import requests

        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=10).raise_for_status()
        response = session.post(
            f"{self.url}/hub/login?next=/hub/home", allow_redirects=False, timeout=30,
            data={"username": user, "password": self.password,
                  "_xsrf": session.cookies.get("_xsrf", path="/hub/")})
        assert response.status_code == 302 and "jupyterhub-session-id" in session.cookies, \
            f"login as {user} failed: HTTP {response.status_code}"
        # The hub asks cookie-authenticated API requests for the token in the _xsrf cookie.
        session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", path="/hub/")
        return session


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the hub (it stops its proxy, services and servers), then SIGKILL, by PID and
    process group, whatever it started that is still running 20 s later."""
    import psutil

    try:  # psutil's handles check a PID still names the same process (no PID reuse)
        started = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for child in started:
        if not child.is_running():
            continue
        try:  # the proxy, the service and each server lead a process group of their own
            if os.getpgid(child.pid) == child.pid:
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.kill()
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    reason = _missing_hub()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("hub")
    course = work / "course"
    for folder in ("solutions", "notebooks"):
        shutil.copytree(REPO / folder, course / folder)
    shutil.copy(REPO / "nbgrader_config.py", course)
    port, api_port, proxy_port, formgrader_port = _free_ports(4)
    password = secrets.token_hex(8)
    env = dict(os.environ, PATH=f"{NPM_BIN}{os.pathsep}{os.environ['PATH']}",
               BACKPROP_HUB_MODE="trial", BACKPROP_COURSE_DIR=str(course),
               BACKPROP_INSTRUCTORS=INSTRUCTOR, BACKPROP_STUDENTS=f"{STUDENT},{OTHER_STUDENT}",
               BACKPROP_HUB_PASSWORD=password,
               BACKPROP_HUB_HOMES=str(work / "homes"), BACKPROP_HUB_PORT=str(port),
               BACKPROP_HUB_API_PORT=str(api_port), BACKPROP_PROXY_API_PORT=str(proxy_port),
               BACKPROP_FORMGRADER_PORT=str(formgrader_port))
    state, log_path = work / "state", work / "jupyterhub.log"
    state.mkdir()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)],
                                   cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        import requests

        def up():
            if process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {process.returncode}:\n"
                                   f"{log_path.read_text()[-4000:]}")
            try:  # through the proxy, and with the formgrader service started and routed
                hub_up = requests.get(f"{url}/hub/api", timeout=2).ok
                routed = requests.get(f"{url}/services/formgrader/api", timeout=2)
                return hub_up and routed.status_code != 503 and routed.status_code != 404
            except requests.ConnectionError:
                return False

        wait_for(up, timeout=60, what=f"the hub and its formgrader on {url} (log: {log_path})")
        yield Hub(url, course, work / "homes", password)
    finally:
        _stop(process)
        print(f"hub log: {log_path}")


def test_the_instructor_reaches_the_formgrader_of_the_course(hub):
    session = hub.login(INSTRUCTOR)
    page = session.get(f"{hub.url}/services/formgrader/formgrader", timeout=30)
    assert page.status_code == 200, f"formgrader page: HTTP {page.status_code}"
    assert page.url == f"{hub.url}/services/formgrader/formgrader/manage_assignments"
    assert "<title>nbgrader formgrade</title>" in page.text
    # The page lists the assignments from the formgrader's API: the course's, one per notebook.
    api = session.get(f"{hub.url}/services/formgrader/formgrader/api/assignments", timeout=30)
    assert api.status_code == 200, f"formgrader API: HTTP {api.status_code}"
    listed = sorted(a["name"] for a in api.json())
    assert listed == SOURCE, f"formgrader lists {listed}, the course has {SOURCE}"


def test_a_wrong_password_is_refused(hub):
    import requests

    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=10).raise_for_status()
    response = session.post(f"{hub.url}/hub/login", allow_redirects=False, timeout=30,
                            data={"username": STUDENT, "password": hub.password + "x",
                                  "_xsrf": session.cookies.get("_xsrf", path="/hub/")})
    assert response.status_code == 403 and "jupyterhub-session-id" not in session.cookies, \
        f"a wrong password got HTTP {response.status_code}"


def test_a_student_is_refused_the_formgrader(hub):
    session = hub.login(OTHER_STUDENT)
    page = session.get(f"{hub.url}/services/formgrader/formgrader", timeout=30)
    assert page.status_code == 403, f"a student got HTTP {page.status_code} from the formgrader"
    assert "nbgrader formgrade" not in page.text


def test_a_students_server_starts_with_their_own_copy_of_the_notebooks(hub):
    session = hub.login(STUDENT)
    api = f"{hub.url}/hub/api/users/{STUDENT}"
    started = session.post(f"{api}/server", timeout=30)
    assert started.status_code in (201, 202), \
        f"starting {STUDENT}'s server: HTTP {started.status_code} {started.text}"
    wait_for(lambda: session.get(api, timeout=10).json()["servers"].get("", {}).get("ready"),
              timeout=60, what=f"{STUDENT}'s server to be ready")
    token = session.post(f"{api}/tokens", json={"note": "test", "expires_in": 300},
                         timeout=10).json()["token"]
    contents = f"{hub.url}/user/{STUDENT}/api/contents"
    headers = {"Authorization": f"token {token}"}
    listing = session.get(f"{contents}/notebooks", headers=headers, timeout=10)
    assert listing.status_code == 200, f"contents API: HTTP {listing.status_code}"
    assert sorted(item["name"] for item in listing.json()["content"]) == RELEASE
    path = "notebooks/01_chain_rule/01_chain_rule.ipynb"
    served = session.get(f"{contents}/{path}", headers=headers, timeout=10).json()["content"]
    release = json.loads((REPO / path).read_text())
    assert [c["source"] for c in served["cells"]] == \
        ["".join(c["source"]) for c in release["cells"]], "the served notebook is not the release"
    # The student's own copy, in their home: not the course folder the formgrader works in.
    assert (hub.homes / STUDENT / path).is_file()
