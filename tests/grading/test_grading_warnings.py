"""Importing backprop_grading sends Python warnings (numpy's included) to stdout, not stderr."""

import subprocess
import sys
import warnings

import backprop_grading  # noqa: F401  (the import itself routes warnings)
from backprop_grading.warnings_capture import route_warnings_to_stdout, show_warning_on_stdout

SCRIPT = """\
import warnings
import numpy as np
import backprop_grading
np.log(np.float64(0.0))
np.exp(np.array([1000.0]))
warnings.warn("plain python warning")
"""


def test_importing_the_package_routes_numpy_and_python_warnings_to_stdout():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stderr == ""
    assert done.stdout == ("note: RuntimeWarning: divide by zero encountered in log\n"
                           "note: RuntimeWarning: overflow encountered in exp\n"
                           "note: UserWarning: plain python warning\n")


def test_without_the_package_the_same_warnings_go_to_stderr():
    script = SCRIPT.replace("import backprop_grading\n", "")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout == ""
    assert "RuntimeWarning: divide by zero" in done.stderr


def test_route_installs_the_stdout_printer(monkeypatch, capfd):
    monkeypatch.setattr(warnings, "showwarning", warnings._showwarning_orig)
    route_warnings_to_stdout()
    assert warnings.showwarning is show_warning_on_stdout
    warnings.showwarning(RuntimeWarning("invalid value encountered in sqrt"), RuntimeWarning,
                         "cell.py", 3, file=sys.stderr)
    assert capfd.readouterr() == ("note: RuntimeWarning: invalid value encountered in sqrt\n",
                                  "")
