"""The gradebook's schema revision read in-process is the one ``alembic heads`` prints."""

import sqlite3
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.dbutil import _temp_alembic_ini

from backprop_course.gradebook_schema import alembic_head, read_gradebook_version_in_process

ALEMBIC = Path(sys.executable).parent / "alembic"


def test_alembic_head_is_what_the_alembic_command_prints():
    with _temp_alembic_ini("sqlite://") as ini:
        printed = subprocess.run([str(ALEMBIC), "-c", ini, "heads"], capture_output=True,
                                 text=True, check=True).stdout
    assert printed.split()[0] == alembic_head()
    assert "(head)" in printed


def test_a_gradebook_made_without_alembic_on_path_is_stamped_with_the_head(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    read_gradebook_version_in_process()
    path = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{path}") as gradebook:
        gradebook.add_student("ada")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (alembic_head(),)]
