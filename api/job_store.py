"""Upload jobs on disk: ``<data_dir>/api/jobs.sqlite``, one row per job, rewritten on every state change.

A server restart reads them back (``JobManager`` resumes the queued and running ones), so a job id handed to a
client is never forgotten; finished jobs beyond ``keep`` are dropped, oldest first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from citewise.transactions import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
"""
FINISHED = ("done", "failed", "cancelled")


class JobStore(SqliteStore):
    """The jobs table; every method is one short transaction (safe to call from any thread)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def save(self, job_id: str, created_at: float, state: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (job_id, created_at, state, body) VALUES (?, ?, ?, ?)",
                (job_id, created_at, state, json.dumps(body)),
            )

    def load(self) -> list[dict[str, Any]]:
        """Every stored job's body, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM jobs ORDER BY created_at, job_id").fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def trim(self, keep: int) -> list[str]:
        """Drop the oldest finished jobs beyond ``keep``; returns their ids."""
        marks = ", ".join("?" * len(FINISHED))
        with self._lock:
            rows = self._db.execute(
                f"SELECT job_id FROM jobs WHERE state IN ({marks}) ORDER BY created_at DESC, job_id LIMIT -1 OFFSET ?",
                (*FINISHED, keep),
            ).fetchall()
            ids = [str(r[0]) for r in rows]
            self._db.executemany("DELETE FROM jobs WHERE job_id = ?", [(i,) for i in ids])
        return ids
