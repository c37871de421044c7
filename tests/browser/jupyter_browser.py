"""A Jupyter server and a headless Chromium for the browser test, each stopped by its own PID.

Debian's ``chromium`` and ``chromium-driver`` packages (installed by ``.ci/run``), driven by
selenium. Only the course's own pages are opened, on 127.0.0.1, so the browser needs no network.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from waiting import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Root in a container without a network: no sandbox (root), no GPU, and nothing that phones home.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1000"]
# The page of a notebook in each front end, relative to the server's root.
NOTEBOOK_PAGE = {"jupyterlab": "lab/tree/{path}", "notebook": "notebooks/{path}"}


def missing_browser() -> str | None:
    """Why the browser test cannot run here (a sentence), or None when it can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        return (f"{' and '.join(missing)} not found: install Debian's chromium and "
                "chromium-driver packages (.ci/run does, as root)")
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterServer:
    """A running ``jupyter lab`` or ``jupyter notebook`` server (see :func:`jupyter_server`)."""

    def __init__(self, app: str, root: Path, log: Path):
        if app not in NOTEBOOK_PAGE:
            raise ValueError(f"app must be one of {sorted(NOTEBOOK_PAGE)}, got {app!r}")
        self.app, self.root, self.log = app, root, log
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.process: subprocess.Popen | None = None

    def notebook_url(self, path: str) -> str:
        """The URL that opens ``path`` (relative to the server's root) in this front end."""
        page = NOTEBOOK_PAGE[self.app].format(path=path)
        return f"http://127.0.0.1:{self.port}/{page}?token={self.token}"

    def start(self, home: Path) -> None:
        """Start the server with its Jupyter and IPython folders under ``home``; wait until up."""
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
                   JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   IPYTHONDIR=str(home / "ipython"))
        # Every cell stays in the page, so that the test sees every output.
        settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        command = [sys.executable, "-m", self.app, "--no-browser", "--ip=127.0.0.1",
                   f"--port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}"]
        if os.geteuid() == 0:  # as in a CI container
            command.append("--allow-root")
        with self.log.open("w") as log:
            # Its own process group: stopping it also stops the kernels it started.
            # In the course's folder, so that nbgrader reads the copy's nbgrader_config.py.
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.root, start_new_session=True)
        wait_for(self._ready, timeout=60, what=f"{self.app} to answer on port {self.port}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.app} exited with {self.process.returncode}: "
                               f"{self.log.read_text()[-3000:]}")
        url = f"http://127.0.0.1:{self.port}/api/status?token={self.token}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def kernel_connected(self) -> bool:
        """Whether a kernel runs, idle, with a front end connected to it."""
        url = f"http://127.0.0.1:{self.port}/api/kernels?token={self.token}"
        with urllib.request.urlopen(url, timeout=5) as response:
            kernels = json.load(response)
        return any(k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels)

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM to its group, SIGKILL after 15 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def jupyter_server(app: str, root: Path, workdir: Path) -> Iterator[JupyterServer]:
    """``app`` ("jupyterlab" or "notebook") serving ``root``; its log and folders in ``workdir``."""
    server = JupyterServer(app, root, workdir / f"{app}.log")
    try:
        server.start(workdir / f"{app}-home")
        yield server
    finally:
        server.stop()


@contextmanager
def chromium(workdir: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a new empty profile in ``workdir``, its console log recorded."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={workdir / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER),
                      log_output=str(workdir / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()  # closes Chromium, then stops chromedriver by the PID selenium started


@contextmanager
def screenshot_on_failure(driver: webdriver.Chrome, path: Path) -> Iterator[None]:
    """Save a screenshot of the page to ``path`` and print where, if the block raises."""
    try:
        yield
    except BaseException:
        driver.save_screenshot(str(path))
        print(f"screenshot of the failing page: {path}")
        raise


def click_menu(driver: webdriver.Chrome, menu: str, command: str) -> None:
    """Click ``menu`` in the menu bar, then its item that runs ``command`` (a Lumino command id)."""
    labels = driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
    matches = [label for label in labels if label.text == menu]
    if not matches:
        raise LookupError(f"no menu {menu!r} in the menu bar, which has "
                          f"{[label.text for label in labels]}")
    matches[0].click()
    item = wait_for(lambda: driver.find_elements(
        By.CSS_SELECTOR, f'.lm-Menu li.lm-Menu-item[data-command="{command}"]'),
        timeout=10, what=f"the item {command!r} in the menu {menu!r}")
    item[0].click()


_PROMPTS = "return [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]" \
           ".map(p => p.textContent.trim());"


_KERNEL_STATUS = "return document.querySelector('.jp-Notebook-ExecutionIndicator')" \
                 "?.getAttribute('data-status');"


def run_all_cells(driver: webdriver.Chrome, server: JupyterServer, timeout: float) -> list[str]:
    """Run > Run All Cells once the kernel is ready; wait until it stops running cells.

    Returns the code cells' prompts ("[3]:" for a cell that ran, "[ ]:" for one that did not,
    as after a cell that raised). A Run All clicked while the page still connects to the kernel
    is lost, so the kernel must be idle both for the server and in the page.
    """
    wait_for(lambda: driver.execute_script(_PROMPTS), timeout=60, what="the notebook's cells")
    wait_for(server.kernel_connected, timeout=60, what="the page to connect to an idle kernel")
    wait_for(lambda: driver.execute_script(_KERNEL_STATUS) == "idle", timeout=60,
             what="the page to show the kernel idle")
    click_menu(driver, "Run", "runmenu:run-all")

    def stopped():  # Run All queues every cell at once, shown "[*]:" until it has run
        prompts = driver.execute_script(_PROMPTS)
        ran = any(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
        return ran and "[*]:" not in prompts and prompts

    return wait_for(stopped, timeout=timeout, what="Run All to finish", poll=0.5)


def rendered_images(driver: webdriver.Chrome) -> list[dict]:
    """Every image output in the page: whether it loaded and its natural width in pixels."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output.jp-RenderedImage img')]"
        ".map(img => ({loaded: img.complete, width: img.naturalWidth}));")


def stderr_outputs(driver: webdriver.Chrome) -> list[str]:
    """The text of every output the page shows as an error or as stderr."""
    return driver.execute_script(
        "return [...document.querySelectorAll("
        "'.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')]"
        ".map(o => o.textContent);")


def cell_outputs(driver: webdriver.Chrome) -> list[str]:
    """The text of every output of each cell in the page, one string per cell (code or not)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => "
        "[...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent)"
        ".join('\\n'));")


def validate(driver: webdriver.Chrome, timeout: float) -> tuple[str, str]:
    """Click nbgrader's Validate button in the notebook's toolbar; wait for its dialog.

    The button saves the notebook, then the server runs it in a new kernel (nbgrader's
    validate handler). Returns the result's outcome, read from nbgrader's class on the message
    ("success", "failed", "changed", "type-changed" or "passed"), and the message's text; the
    dialog is then closed.
    """
    button = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "jp-button.validate-button"),
                      timeout=20, what="nbgrader's Validate button in the notebook's toolbar")
    if len(button) != 1:
        raise LookupError(f"{len(button)} Validate buttons in the page: open one notebook only")
    button[0].click()
    message = wait_for(lambda: driver.find_elements(By.ID, "validation-message"),
                       timeout=timeout, what="nbgrader's validation dialog")[0]
    outcomes = [c.removeprefix("validation-") for c in message.get_attribute("class").split()
                if c.startswith("validation-")]
    text = message.text
    driver.find_element(By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    wait_for(lambda: not driver.find_elements(By.ID, "validation-message"), timeout=10,
             what="the validation dialog to close")
    return ",".join(outcomes), text
