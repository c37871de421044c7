"""What a student installs is enough: the kit, the grading helpers and the experiments import
without the instructor's or the contributors' packages, and each package keeps to its job."""

import ast
import subprocess
import sys

import pytest
from conftest import REPO

#: Packages students install (``pip install .``, requirements.txt).
STUDENT_PACKAGES = ("backprop_kit", "backprop_grading", "backprop_experiments")
#: What only the instructor's extra, the dev extra or the bench extra installs.
NOT_FOR_STUDENTS = ("nbgrader", "nbformat", "nbconvert", "nbclient", "jupyter_client",
                    "psutil", "psycopg", "torch", "pytest", "hypothesis", "IPython",
                    "backprop_course", "benchmarks")


def _modules(package: str) -> list[str]:
    """Every module of the package, found on disk (subpackages included)."""
    names = []
    for file in sorted((REPO / package).rglob("*.py")):
        parts = file.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_student_module_imports_with_the_instructor_packages_blocked():
    modules = [name for package in STUDENT_PACKAGES for name in _modules(package)]
    script = f"""
import importlib, importlib.abc, sys
BLOCKED = {NOT_FOR_STUDENTS!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not part of the student install")
sys.meta_path.insert(0, Block())
for name in {modules!r}:
    importlib.import_module(name)
print(len({modules!r}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) == len(modules) > 40


def _imported_roots(package: str) -> set[str]:
    roots = set()
    for file in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package, must_not_import", [
    ("backprop_kit", {"backprop_grading", "backprop_experiments", "backprop_course",
                      "benchmarks", "torch"}),
    ("backprop_grading", {"backprop_experiments", "backprop_course", "benchmarks", "torch"}),
    ("backprop_experiments", {"backprop_grading", "backprop_course", "benchmarks", "torch"}),
])
def test_packages_keep_to_their_job(package, must_not_import):
    assert not _imported_roots(package) & must_not_import


def test_pyproject_declares_the_student_and_the_extra_dependencies():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0] for dep in project["dependencies"]}
    assert names == {"numpy", "matplotlib", "scikit-learn", "tqdm", "threadpoolctl"}
    extras = project["optional-dependencies"]
    assert any(dep.startswith("nbgrader==") for dep in extras["instructor"])
    assert "torch==2.13.0" in extras["bench"]
    assert project["scripts"]["backprop-course"] == "backprop_course.__main__:main"
