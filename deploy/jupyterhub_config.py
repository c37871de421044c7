"""JupyterHub for the backprop course on one machine (docs/instructors/jupyterhub.md).

Students log in and get their own single-user JupyterLab with their own copy of the course's
student notebooks; instructors also get nbgrader's formgrader, run as a hub service over the
course folder. Run it with ``jupyterhub -f deploy/jupyterhub_config.py`` from the folder where
the hub should keep its state (its database and cookie secret).

Two modes, chosen by ``BACKPROP_HUB_MODE``:

``system`` (the default)
    Everyone logs in with their account on this machine (PAM) and their server runs as that
    account. The hub runs as root; the formgrader runs as ``BACKPROP_GRADER_USER``, who owns
    the course folder.
``trial``
    To try the setup on a laptop or in a test: everyone logs in with one shared password
    (``BACKPROP_HUB_PASSWORD``, at least 8 characters), as any allowed name, and every server
    runs as the hub's own user, with homes under ``BACKPROP_HUB_HOMES`` (default ``homes/``).
    No isolation between users at all: never for a class.

Settings (environment variables, all optional but the trial password):

``BACKPROP_COURSE_DIR``
    The course folder: ``nbgrader_config.py``, ``solutions/``, ``notebooks/``, the gradebook.
    Default: the repository this file belongs to.
``BACKPROP_INSTRUCTORS``, ``BACKPROP_STUDENTS``
    Comma-separated user names. Default: ``instructor`` and nobody.
``BACKPROP_HUB_IP``, ``BACKPROP_HUB_PORT``
    Where the hub listens. Default: ``127.0.0.1`` in trial mode, all interfaces otherwise;
    port 8000.
``BACKPROP_FORMGRADER_PORT``, ``BACKPROP_HUB_API_PORT``, ``BACKPROP_PROXY_API_PORT``
    Local ports (127.0.0.1) of the formgrader, of the hub's API and of the proxy's API.
    Default 9999, 8081 and 8001.
"""

import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (injected by traitlets when JupyterHub loads this file)


def _names(variable: str, default: str = "") -> set[str]:
    return {name.strip() for name in os.environ.get(variable, default).split(",") if name.strip()}


MODE = os.environ.get("BACKPROP_HUB_MODE", "system")
if MODE not in ("system", "trial"):
    raise ValueError(f"BACKPROP_HUB_MODE must be 'system' or 'trial', got {MODE!r}")
COURSE = Path(os.environ.get("BACKPROP_COURSE_DIR", Path(__file__).resolve().parent.parent))
if not (COURSE / "nbgrader_config.py").is_file():
    raise FileNotFoundError(f"BACKPROP_COURSE_DIR={str(COURSE)!r} holds no nbgrader_config.py; "
                            "point it at the course folder")
COURSE_ID = "backprop"  # nbgrader_config.py's CourseDirectory.course_id
INSTRUCTORS = _names("BACKPROP_INSTRUCTORS", "instructor")
STUDENTS = _names("BACKPROP_STUDENTS")
if not INSTRUCTORS:
    raise ValueError("BACKPROP_INSTRUCTORS names nobody: the formgrader needs an instructor")
# Servers and the formgrader run in the Python environment the hub runs in: the one with
# backprop_kit, nbgrader and JupyterLab installed.
PYTHON = sys.executable
# Jupyter refuses to run as root without this flag; only trial mode runs servers as the hub's
# user (in a container, often root).
ROOT_FLAG = ["--allow-root"] if MODE == "trial" and os.geteuid() == 0 else []

c.JupyterHub.ip = os.environ.get("BACKPROP_HUB_IP", "127.0.0.1" if MODE == "trial" else "")
c.JupyterHub.port = int(os.environ.get("BACKPROP_HUB_PORT", "8000"))
c.JupyterHub.hub_port = int(os.environ.get("BACKPROP_HUB_API_PORT", "8081"))
PROXY_API_PORT = int(os.environ.get("BACKPROP_PROXY_API_PORT", "8001"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"

# --- Who may log in ------------------------------------------------------------------------
if MODE == "trial":
    if len(os.environ.get("BACKPROP_HUB_PASSWORD", "")) < 8:
        raise ValueError("trial mode needs BACKPROP_HUB_PASSWORD, of at least 8 characters")
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = os.environ["BACKPROP_HUB_PASSWORD"]
    c.JupyterHub.spawner_class = "simple"  # no system accounts, no isolation
    homes = Path(os.environ.get("BACKPROP_HUB_HOMES", "homes")).resolve()
    c.SimpleLocalProcessSpawner.home_dir_template = str(homes / "{username}")
# In system mode JupyterHub's defaults apply: PAMAuthenticator and LocalProcessSpawner.
c.Authenticator.allowed_users = INSTRUCTORS | STUDENTS

# The graders, in a group named as nbgrader's JupyterHub demos name it: they may open the
# formgrader (the hub's Services menu lists it for them), nobody else may.
c.JupyterHub.load_groups = {f"formgrade-{COURSE_ID}": {"users": sorted(INSTRUCTORS)}}
c.JupyterHub.load_roles = [
    {"name": f"formgrade-{COURSE_ID}", "groups": [f"formgrade-{COURSE_ID}"],
     "scopes": ["access:services!service=formgrader"]},
]

# --- The students' servers: JupyterLab on their own copy of the notebooks --------------------
c.Spawner.cmd = [PYTHON, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ROOT_FLAG
c.Spawner.default_url = "/lab/tree/notebooks"
c.Spawner.environment = {"PATH": f"{Path(PYTHON).parent}:/usr/local/bin:/usr/bin:/bin"}


def copy_course_notebooks(spawner) -> None:
    """Before a server starts: copy each assignment of the course's ``notebooks/`` that the
    user's ``~/notebooks/`` lacks. A student's own work is never overwritten; an assignment
    added to the course later arrives on the next start."""
    if MODE == "trial":
        home, owner = Path(spawner.home_dir), None
    else:
        import pwd

        account = pwd.getpwnam(spawner.user.name)
        home, owner = Path(account.pw_dir), (account.pw_uid, account.pw_gid)
    for assignment in sorted(p for p in (COURSE / "notebooks").iterdir() if p.is_dir()):
        target = home / "notebooks" / assignment.name
        if target.exists():
            continue
        shutil.copytree(assignment, target)
        if owner is not None:  # the hub runs as root; the copy belongs to the student
            for path in [target.parent, target, *target.rglob("*")]:
                os.chown(path, *owner)


c.Spawner.pre_spawn_hook = copy_course_notebooks

# --- The formgrader: a Jupyter server over the course folder, as a hub service ---------------
formgrader = {
    "name": "formgrader",
    "url": f"http://127.0.0.1:{int(os.environ.get('BACKPROP_FORMGRADER_PORT', '9999'))}",
    # nbgrader's formgrader server extension, with the course's nbgrader_config.py read from
    # the working folder.
    "command": [PYTHON, "-m", "jupyterhub.singleuser", *ROOT_FLAG],
    "cwd": str(COURSE),
    "environment": {"JUPYTERHUB_DEFAULT_URL": "/formgrader",
                    "PATH": f"{Path(PYTHON).parent}:/usr/local/bin:/usr/bin:/bin"},
    # Instructors reach it from the hub's Services menu with no "authorize" page.
    "oauth_no_confirm": True,
}
if MODE == "system":
    formgrader["user"] = os.environ.get("BACKPROP_GRADER_USER", min(INSTRUCTORS))
c.JupyterHub.services = [formgrader]
