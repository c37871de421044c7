"""The course opened the way a student opens it: JupyterLab and Notebook 7 in headless Chromium.

Each test serves a temporary copy of the course with a token on 127.0.0.1. A solution notebook
runs all its cells from the Run menu and is saved; then every plot must show as a loaded image,
no cell may fail or write to stderr, the browser console must hold no SEVERE entry caused by the
course, and nbgrader's Validate button must report success. The untouched student release, run
the same way, must tell the student at its first exercise that it is not written yet. Skipped
only where Chromium or its driver is not installed.
"""

import json
import re
import shutil

import pytest
from conftest import REPO
from jupyter_browser import (
    cell_outputs,
    chromium,
    click_menu,
    jupyter_server,
    missing_browser,
    rendered_images,
    run_all_cells,
    screenshot_on_failure,
    stderr_outputs,
    validate,
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
        # nbgrader's toolbar button: the server runs the saved notebook again and checks it.
        outcome, message = validate(driver, timeout=120)
        assert outcome == "success", f"Validate reported {outcome!r}: {message[:2000]}"
        assert message == "Success! Your notebook passes all the tests."


def _first_exercise(notebook):
    """The index of the first exercise's test cell and the name of the function it tests:
    the first graded cell after the first answer cell, and the answer cell's first def."""
    cells = notebook["cells"]
    nbgrader = [c["metadata"].get("nbgrader", {}) for c in cells]
    answer = next(i for i, m in enumerate(nbgrader) if m.get("solution"))
    function = re.search(r"^def (\w+)\(", "".join(cells[answer]["source"]), re.MULTILINE)
    test = next(i for i, m in enumerate(nbgrader) if i > answer and m.get("grade"))
    return test, function.group(1)


def test_the_untouched_release_says_not_written_yet_at_its_first_exercise(course, tmp_path):
    path = "notebooks/01_chain_rule/01_chain_rule.ipynb"
    test_cell, function = _first_exercise(json.loads((course / path).read_text()))
    # backprop_grading.failures.not_written, word for word
    expected = (f"exercise not written yet: replace `raise NotImplementedError()` in "
                f"`{function}` with your code")
    with (jupyter_server("jupyterlab", course, tmp_path) as server, chromium(tmp_path) as driver,
          screenshot_on_failure(driver, tmp_path / "jupyterlab-release.png")):
        driver.get(server.notebook_url(path))
        run_all_cells(driver, server, timeout=120)
        outputs = cell_outputs(driver)
        told = [i for i, text in enumerate(outputs) if "not written yet" in text]
        assert told and told[0] == test_cell, (
            f"the first 'not written yet' is in cell {told[:1]}, the first exercise's test is "
            f"cell {test_cell}; outputs there: {outputs[test_cell][-1500:]!r}")
        lines = outputs[test_cell].splitlines()
        assert any(line.rstrip().endswith(expected) for line in lines), (
            f"cell {test_cell} does not end a line with {expected!r}: {lines}")
        assert not any("Traceback" in text for text in outputs[:test_cell]), \
            "a cell before the first exercise failed"
        # Validate tells a blank notebook apart from a solution: it fails, at that test cell.
        outcome, message = validate(driver, timeout=120)
        assert outcome == "failed", f"Validate reported {outcome!r} on the blank release"
        first_failed = message.split("The following cell failed:\n", 2)[1]
        release = json.loads((course / path).read_text())
        assert first_failed.startswith("".join(release["cells"][test_cell]["source"])), \
            f"the first cell Validate reports is not the first exercise's test: {message[:1500]}"
