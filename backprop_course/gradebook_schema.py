"""The gradebook's schema revision, without starting a process.

nbgrader 0.9 creates a gradebook by asking ``alembic heads`` for the revision of its newest
migration, in a new Python process (``nbgrader.api.get_alembic_version``): about 2 s each time,
and it fails when the environment's ``bin/`` is not on ``PATH``. alembic's API reads the same
revision from the same migration scripts in a few milliseconds.
"""

from __future__ import annotations

import functools

import nbgrader.api
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from nbgrader.dbutil import _temp_alembic_ini


@functools.cache
def alembic_head() -> str:
    """The revision of nbgrader's newest gradebook migration (what ``alembic heads`` prints),
    read with alembic's API."""
    with _temp_alembic_ini("sqlite://") as ini:
        return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()


def read_gradebook_version_in_process() -> None:
    """Make nbgrader learn the schema revision from :func:`alembic_head` when it creates a
    gradebook, instead of starting ``alembic heads`` (``nbgrader.api.get_alembic_version``, the
    one place nbgrader asks)."""
    nbgrader.api.get_alembic_version = alembic_head
