"""The course opened the way a student opens it: JupyterLab and Notebook 7 in headless Chromium.

Each test serves a temporary copy of the course with a token on 127.0.0.1, opens a solution
notebook, runs all its cells from the Run menu and saves it; then every plot must show as a loaded
image, no cell may fail or write to stderr, and the browser console must hold no SEVERE entry
caused by the course. Skipped only where Chromium or its driver is not installed.
"""

import json
import shutil

import pytest
from conftest import REPO
from jupyter_browser import (
    chromium,
    click_menu,
    jupyter_server,
    missing_browser,
    rendered_images,
    run_all_cells,
    screenshot_on_failure,
    stderr_outputs,
    wait_for,
)

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))

# SEVERE browser-console entries that come from JupyterLab or Notebook 7 themselves, matched by
# exact text (after the URL and position Chromium puts before the message).
KNOWN_UPSTREAM_CONSOLE_ERRORS = {
    # Notebook 7.6.5's notebook_core bundle, on opening any notebook: seen with a one-cell
    # notebook outside the course and with nbgrader's extension disabled (JupyterLab 4.6 is clean).
    "Uncaught TypeError: Cannot read properties of undefined (reading 'schema')",
}


@pytest.fixture
def course(tmp_path):
    """A temporary copy of the course: the instructor notebooks, the release, nbgrader's config."""
    root = tmp_path / "course"
    for folder in ("solutions", "notebooks"):
        shutil.copytree(REPO / folder, root / folder)
    shutil.copy(REPO / "nbgrader_config.py", root)
    return root


def _course_console_errors(driver):
    """SEVERE console entries, less the known upstream ones."""
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return [m for m in severe if m.split(" ", 2)[-1] not in KNOWN_UPSTREAM_CONSOLE_ERRORS]


@pytest.mark.parametrize("app, assignment", [("jupyterlab", "01_chain_rule"),
                                             ("notebook", "03_vectorized_backprop")])
def test_solution_runs_in_the_browser(app, assignment, course, tmp_path):
    path = f"solutions/{assignment}/{assignment}.ipynb"
    with (jupyter_server(app, course, tmp_path) as server, chromium(tmp_path) as driver,
          screenshot_on_failure(driver, tmp_path / f"{app}-{assignment}.png")):
        driver.get(server.notebook_url(path))
        prompts = run_all_cells(driver, server, timeout=120)
        # A cell's error shows as stderr, with its traceback.
        assert not stderr_outputs(driver), f"stderr shown: {stderr_outputs(driver)}"
        not_run = [i for i, p in enumerate(prompts) if p == "[ ]:"]
        assert not not_run, f"code cells {not_run} did not run; prompts: {prompts}"
        click_menu(driver, "File", "docmanager:save")

        def saved():
            cells = json.loads((course / path).read_text())["cells"]
            code = [c for c in cells if c["cell_type"] == "code"]
            return all(c["execution_count"] for c in code) and code

        code = wait_for(saved, timeout=20, what=f"{path} saved with every cell run")
        assert len(code) == len(prompts), "the page and the saved notebook differ in code cells"
        outputs = [o for c in code for o in c["outputs"]]
        errors = [o for o in outputs if o["output_type"] == "error"]
        assert not errors, f"cells raised: {[(e['ename'], e['evalue']) for e in errors]}"
        # A plot that did not render shows as its text form instead of an image.
        as_text = [o["data"]["text/plain"] for o in outputs
                   if "image/png" not in o.get("data", {})
                   and "<Figure size" in "".join(o.get("data", {}).get("text/plain", ""))]
        assert not as_text, f"plots shown as text, not images: {as_text}"
        plots = sum("image/png" in o.get("data", {}) for o in outputs)
        assert plots >= 1, f"{assignment} plots, but its saved outputs hold no image"
        images = rendered_images(driver)
        assert len(images) == plots, f"{plots} plots saved, {len(images)} images in the page"
        assert all(i["loaded"] and i["width"] > 0 for i in images), f"images: {images}"
        console_errors = _course_console_errors(driver)
        assert not console_errors, f"SEVERE browser-console entries: {console_errors}"
