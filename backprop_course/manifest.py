"""Which submissions a class's gradebook already holds grades for: the resume manifest.

``backprop-course grade`` records, after each student's result is in the gradebook, the
SHA-256 of the submitted files and of the assignment (source and gradebook cells) in a small
SQLite file the coordinator alone writes: ``grading-manifest.sqlite`` in the course root, beside
``gradebook.db``. A rerun skips a student whose submission and assignment hashes are unchanged
and whose grades the gradebook still holds, unless ``--force``. Entries are kept per gradebook
(by a hash of its URL, never the URL itself, which may hold a password), so grading into
another gradebook never skips anyone.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from backprop_course.static_scan import Flag

MANIFEST_NAME = "grading-manifest.sqlite"
_SCHEMA = """CREATE TABLE IF NOT EXISTS graded (
    gradebook TEXT NOT NULL, assignment TEXT NOT NULL, student TEXT NOT NULL,
    submission_sha256 TEXT NOT NULL, assignment_sha256 TEXT NOT NULL,
    status TEXT NOT NULL, detail TEXT NOT NULL, seconds REAL NOT NULL,
    flags TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (gradebook, assignment, student))"""


@dataclass(frozen=True)
class ManifestEntry:
    """What the coordinator recorded for one student's submission of one assignment.

    Attributes
    ----------
    submission_sha256, assignment_sha256 : str
        :attr:`~backprop_course.bundles.SubmissionBundle.digest` and
        :attr:`~backprop_course.bundles.AssignmentBundle.digest` of the graded bytes.
    status, detail : str
        As in the report.
    seconds : float
        How long the run took.
    flags : dict
        notebook -> list of Flag, the static scan's findings.
    recorded_at : str
        ISO 8601, UTC.
    """

    submission_sha256: str
    assignment_sha256: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    flags: dict[str, list[Flag]] = field(default_factory=dict)
    recorded_at: str = ""


class GradingManifest:
    """The manifest file at ``path`` (created on first write)."""

    def __init__(self, path: str | os.PathLike, db_url: str) -> None:
        self.path = Path(path)
        self.gradebook = hashlib.sha256(db_url.encode()).hexdigest()[:32]

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute(_SCHEMA)
        return connection

    def get(self, assignment: str, student: str) -> ManifestEntry | None:
        """The entry of ``student``'s submission of ``assignment``, or None."""
        if not self.path.exists():
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT submission_sha256, assignment_sha256, status, detail, seconds, flags, "
                "recorded_at FROM graded WHERE gradebook = ? AND assignment = ? AND student = ?",
                (self.gradebook, assignment, student)).fetchone()
        if row is None:
            return None
        flags = {name: [Flag(*found) for found in listed]
                 for name, listed in json.loads(row[5]).items()}
        return ManifestEntry(row[0], row[1], row[2], row[3], row[4], flags, row[6])

    def put(self, assignment: str, student: str, entry: ManifestEntry) -> None:
        """Record (or replace) an entry; committed when this returns."""
        flags = json.dumps({name: [[f.where, f.kind, f.message] for f in listed]
                            for name, listed in entry.flags.items()})
        stamp = entry.recorded_at or datetime.now(UTC).isoformat(timespec="seconds")
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO graded VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (self.gradebook, assignment, student, entry.submission_sha256,
                        entry.assignment_sha256, entry.status, entry.detail, entry.seconds,
                        flags, stamp))

    def count(self, assignment: str) -> int:
        """How many students of ``assignment`` this gradebook's entries hold."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM graded WHERE gradebook = ? AND "
                              "assignment = ?", (self.gradebook, assignment)).fetchone()[0]
