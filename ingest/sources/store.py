"""``SourceStore``: a collection's sources and what each last saw (``<data_dir>/sources/<collection>.sqlite``).

``objects`` is each source's manifest: for every object (key relative to the source's root) the store's change
marker (ETag / mtime / size), the document it became and a fingerprint of the settings it was ingested with.
It records which source each document came from, so a sync prunes only its own documents, and never one that
another source still lists (two sources over the same files share those documents).

SQLite in WAL mode: the CLI may add or list sources while ``citewise serve`` runs its schedules on the same file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import NotFound, SourceExists
from citewise.transactions import SqliteStore
from ingest.sources.spec import SourceSpec

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    marker TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE INDEX IF NOT EXISTS objects_doc ON objects (doc_id);
CREATE TABLE IF NOT EXISTS syncs (source TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


@dataclass(frozen=True)
class KnownObject:
    """One object of a source's manifest, as of its last successful ingestion."""

    key: str
    marker: str
    doc_id: str
    fingerprint: str


@dataclass(frozen=True)
class SyncStatus:
    """How a source's last sync ended (``error`` None: it completed; failed files are in ``failures``)."""

    started_at: float
    finished_at: float
    objects: int = 0
    ingested: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    list_s: float = 0.0
    elapsed_s: float = 0.0
    error: str | None = None
    failures: tuple[dict[str, str], ...] = ()


def store_path(data_dir: Path | str, collection: str) -> Path:
    return Path(data_dir) / "sources" / f"{collection}.sqlite"


class SourceStore(SqliteStore):
    def __init__(self, data_dir: Path | str, collection: str) -> None:
        super().__init__(store_path(data_dir, collection), _SCHEMA)
        self.collection = collection

    # -- sources -------------------------------------------------------------------------------------
    def add(self, spec: SourceSpec) -> SourceSpec:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM sources WHERE name = ?", (spec.name,)).fetchone():
                raise SourceExists(
                    f"a source named {spec.name!r} already exists in collection {self.collection!r}: pick another "
                    f"name, or remove it first (`citewise sources remove {spec.name}`)"
                )
            db.execute("INSERT INTO sources (name, body) VALUES (?, ?)", (spec.name, json.dumps(spec.body())))
        return spec

    def update(self, spec: SourceSpec) -> SourceSpec:
        """Store ``spec`` over the source of the same name (``NotFound`` if there is none). Its manifest stays: the
        next sync ingests what the new definition adds and prunes what it leaves out."""
        with self._tx() as db:
            done = db.execute("UPDATE sources SET body = ? WHERE name = ?", (json.dumps(spec.body()), spec.name))
            if done.rowcount == 0:
                raise NotFound(
                    f"no source named {spec.name!r} in collection {self.collection!r}; see `citewise sources list`"
                )
        return spec

    def get(self, name: str) -> SourceSpec:
        with self._lock:
            row = self._db.execute("SELECT body FROM sources WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no source named {name!r} in collection {self.collection!r}; see `citewise sources list`")
        return SourceSpec.from_body(json.loads(row[0]))

    def list(self, tenant: str | None = None) -> list[SourceSpec]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM sources ORDER BY name").fetchall()
        specs = [SourceSpec.from_body(json.loads(r[0])) for r in rows]
        return [s for s in specs if tenant is None or s.tenant == tenant]

    def remove(self, name: str) -> None:
        self.get(name)
        with self._tx() as db:
            db.execute("DELETE FROM objects WHERE source = ?", (name,))
            db.execute("DELETE FROM syncs WHERE source = ?", (name,))
            db.execute("DELETE FROM sources WHERE name = ?", (name,))

    # -- manifest ------------------------------------------------------------------------------------
    def objects(self, name: str) -> dict[str, KnownObject]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, marker, doc_id, fingerprint FROM objects WHERE source = ?", (name,)
            ).fetchall()
        return {r[0]: KnownObject(*r) for r in rows}

    def record(self, name: str, objects: Iterable[KnownObject]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO objects (source, key, marker, doc_id, fingerprint) VALUES (?, ?, ?, ?, ?)",
                [(name, o.key, o.marker, o.doc_id, o.fingerprint) for o in objects],
            )

    def forget(self, name: str, keys: Sequence[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM objects WHERE source = ? AND key = ?", [(name, k) for k in keys])

    def claimed_elsewhere(self, doc_id: str, name: str) -> bool:
        """Does a source other than ``name`` list this document?"""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM objects WHERE doc_id = ? AND source != ? LIMIT 1", (doc_id, name)
            ).fetchone()
        return row is not None

    # -- last sync -----------------------------------------------------------------------------------
    def set_status(self, name: str, status: SyncStatus) -> None:
        body = json.dumps({**status.__dict__, "failures": list(status.failures)})
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO syncs (source, body) VALUES (?, ?)", (name, body))

    def status(self, name: str) -> SyncStatus | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM syncs WHERE source = ?", (name,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        data["failures"] = tuple(data.get("failures") or ())
        known = set(SyncStatus.__dataclass_fields__)
        return SyncStatus(**{k: v for k, v in data.items() if k in known})
