"""The document store: each document's extracted text and metadata, and the manifest for incremental runs.

One SQLite file per collection, ``<data_dir>/docstore/<collection>.sqlite`` (WAL journal, one transaction
per write, so a killed process never leaves a half-written row). Texts are kept per
``(doc_id, content_hash)``: while a changed document is being re-indexed both versions exist, so a chunk
from either version can always be quoted exactly (``get_text(doc_id, chunk.content_hash)``).

``version()`` counts the write transactions (every one bumps it), so readers can tell that the collection changed.

A document's ``content_hash`` is the committed version (its chunks are all in the index);
``pending_hash`` is a version being written. A record with a pending hash is re-done by the next run.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citewise.errors import NotFound
from citewise.transactions import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    file_type TEXT NOT NULL,
    content_hash TEXT,
    pending_hash TEXT,
    tenant TEXT NOT NULL,
    acl TEXT NOT NULL,
    tags TEXT NOT NULL,
    versions TEXT NOT NULL,
    chunks INTEGER NOT NULL DEFAULT 0,
    pending_chunks INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    modified_at REAL,
    ingested_at REAL,
    label TEXT
);
CREATE INDEX IF NOT EXISTS documents_source ON documents (source);
CREATE INDEX IF NOT EXISTS documents_tenant ON documents (tenant, source);
CREATE TABLE IF NOT EXISTS texts (
    doc_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (doc_id, content_hash)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class DocumentRecord:
    """What the store knows about one document (``content_hash`` is None until its first commit)."""

    doc_id: str
    source: str
    title: str
    file_type: str
    content_hash: str | None
    tenant: str
    acl: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    size_bytes: int = 0
    modified_at: float | None = None
    ingested_at: float | None = None
    pending_hash: str | None = None
    label: str = ""  # what API clients see instead of ``source`` (relative to the ingested folder)

    @property
    def complete(self) -> bool:
        return self.content_hash is not None and self.pending_hash is None


@dataclass(frozen=True)
class PendingDocument:
    """A version about to be written to the index: its record and its extracted text."""

    record: DocumentRecord
    text: str


class DocStore(SqliteStore):
    """Durable per-collection store of document texts and records. Safe to share between the threads of one
    process: one connection, and a lock around each statement or transaction on it (a transaction of one
    thread never takes in another thread's statements)."""

    def __init__(self, data_dir: Path | str, collection: str) -> None:
        super().__init__(_folder(data_dir) / f"{collection}.sqlite", _SCHEMA)
        self.collection = collection
        if "label" not in self._columns():  # a store written before labels existed
            self._db.execute("ALTER TABLE documents ADD COLUMN label TEXT")

    @staticmethod
    def collections(data_dir: Path | str) -> list[str]:
        """The collections that have a docstore in ``data_dir``."""
        return sorted(p.stem for p in _folder(data_dir).glob("*.sqlite"))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; it also bumps ``version()`` (all index writes of a change come before it)."""
        with super()._tx() as db:
            yield db
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('writes', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1"
            )

    def version(self) -> int:
        """A counter of the collection's committed writes (ingest, delete, re-encode), seen by every connection:
        an answer computed at one version is stale once it moves (the API's response cache keys on it)."""
        row = self._one("SELECT value FROM meta WHERE key = 'writes'")
        return int(row[0]) if row else 0

    def _all(self, sql: str, args: Sequence[Any] = ()) -> builtins.list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    # -- reads ---------------------------------------------------------------------------------------
    def get(self, doc_id: str) -> DocumentRecord | None:
        row = self._one("SELECT * FROM documents WHERE doc_id = ?", (doc_id,))
        return _record(row, self._columns()) if row else None

    def require(self, doc_id: str) -> DocumentRecord:
        record = self.get(doc_id)
        if record is None:
            raise NotFound(f"No document {doc_id!r} in collection {self.collection!r}; see `citewise documents list`.")
        return record

    def get_text(self, doc_id: str, content_hash: str | None = None) -> str:
        """The extracted text of a document version (default: the committed one, else the pending one)."""
        if content_hash is None:
            record = self.require(doc_id)
            content_hash = record.content_hash or record.pending_hash
        row = self._one("SELECT text FROM texts WHERE doc_id = ? AND content_hash = ?", (doc_id, content_hash))
        if row is None:
            raise NotFound(f"No text for document {doc_id!r} version {content_hash!r}.")
        return str(row[0])

    def list(
        self,
        tenant: str | None = None,
        offset: int = 0,
        limit: int = 50,
        source_prefix: str | None = None,
        groups: Sequence[str] | None = None,
    ) -> list[DocumentRecord]:
        """Documents ordered by source (with a pending version too; check ``.complete``); with ``groups``, only
        those a caller in these ACL groups may read (see ``citewise.types.acl_allows``)."""
        where, args = _where(tenant, source_prefix, groups)
        rows = self._all(
            f"SELECT * FROM documents{where} ORDER BY source, doc_id LIMIT ? OFFSET ?", (*args, limit, offset)
        )
        cols = self._columns()
        return [_record(r, cols) for r in rows]

    def count(
        self, tenant: str | None = None, source_prefix: str | None = None, groups: Sequence[str] | None = None
    ) -> int:
        where, args = _where(tenant, source_prefix, groups)
        return int(self._one(f"SELECT COUNT(*) FROM documents{where}", args)[0])

    def same_source(self, tenant: str, source: str) -> builtins.list[DocumentRecord]:
        """Every document of ``tenant`` with exactly this source (one per set of ACL groups)."""
        rows = self._all("SELECT * FROM documents WHERE tenant = ? AND source = ? ORDER BY doc_id", (tenant, source))
        cols = self._columns()
        return [_record(r, cols) for r in rows]

    def committed(self, doc_ids: Sequence[str]) -> set[str]:
        """Those of ``doc_ids`` whose current version is fully in the index (no pending one): one query per 500."""
        ids = sorted(set(doc_ids))
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            rows = self._all(
                "SELECT doc_id FROM documents WHERE content_hash IS NOT NULL AND pending_hash IS NULL"
                f" AND doc_id IN ({marks})",
                part,
            )
            found.update(str(r[0]) for r in rows)
        return found

    def committed_hashes(self) -> dict[str, str]:
        """doc_id -> content hash of every document with a committed version."""
        rows = self._all("SELECT doc_id, content_hash FROM documents WHERE content_hash IS NOT NULL")
        return {str(r[0]): str(r[1]) for r in rows}

    def labels(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """doc id -> label (documents without a stored label are left out)."""
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = self._all(f"SELECT doc_id, label FROM documents WHERE label IS NOT NULL AND doc_id IN ({marks})", ids)
        return {str(d): str(label) for d, label in rows if label}

    def iter_all(
        self, tenant: str | None = None, source_prefix: str | None = None, groups: Sequence[str] | None = None
    ) -> Iterator[DocumentRecord]:
        """Every document (with ``groups``: only those a caller in these ACL groups may read)."""
        offset = 0
        while True:
            page = self.list(tenant, offset, 500, source_prefix, groups)
            yield from page
            if len(page) < 500:
                return
            offset += len(page)

    # -- writes --------------------------------------------------------------------------------------
    def begin(self, pending: Sequence[PendingDocument]) -> None:
        """Record new versions as pending (text stored); the committed version stays readable."""
        with self._tx() as db:
            for item in pending:
                r = item.record
                db.execute(
                    "INSERT OR REPLACE INTO texts (doc_id, content_hash, text) VALUES (?, ?, ?)",
                    (r.doc_id, r.pending_hash, item.text),
                )
                existing = db.execute("SELECT content_hash, chunks FROM documents WHERE doc_id = ?", (r.doc_id,))
                old = existing.fetchone()
                db.execute(
                    "INSERT OR REPLACE INTO documents (doc_id, source, title, file_type, content_hash, pending_hash,"
                    " tenant, acl, tags, versions, chunks, pending_chunks, size_bytes, modified_at, ingested_at, label)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.doc_id,
                        r.source,
                        r.title,
                        r.file_type,
                        old[0] if old else None,
                        r.pending_hash,
                        r.tenant,
                        json.dumps(list(r.acl)),
                        json.dumps(r.tags, sort_keys=True),
                        json.dumps(r.versions, sort_keys=True),
                        old[1] if old else 0,
                        r.chunks,
                        r.size_bytes,
                        r.modified_at,
                        r.ingested_at,
                        r.label or None,
                    ),
                )

    def commit(self, doc_ids: Sequence[str]) -> None:
        """The pending versions are fully in the index: make them current and drop older texts."""
        now = time.time()
        with self._tx() as db:
            for doc_id in doc_ids:
                db.execute(
                    "UPDATE documents SET content_hash = pending_hash, chunks = pending_chunks, pending_hash = NULL,"
                    " ingested_at = ? WHERE doc_id = ? AND pending_hash IS NOT NULL",
                    (now, doc_id),
                )
                db.execute(
                    "DELETE FROM texts WHERE doc_id = ? AND content_hash != "
                    "(SELECT content_hash FROM documents WHERE doc_id = ?)",
                    (doc_id, doc_id),
                )

    def set_version(self, key: str, value: str) -> int:
        """Record ``versions[key] = value`` on every document (its chunks were re-encoded); returns the count."""
        with self._tx() as db:
            cur = db.execute("UPDATE documents SET versions = json_set(versions, ?, ?)", (f"$.{key}", value))
            return int(cur.rowcount)

    def abort(self, doc_ids: Sequence[str]) -> None:
        """Drop pending versions that will not be written (a cancelled job): a document that never had a
        committed version disappears, the others keep their committed version."""
        with self._tx() as db:
            for doc_id in doc_ids:
                row = db.execute("SELECT content_hash, pending_hash FROM documents WHERE doc_id = ?", (doc_id,))
                found = row.fetchone()
                if found is None or found[1] is None:
                    continue
                db.execute("DELETE FROM texts WHERE doc_id = ? AND content_hash = ?", (doc_id, found[1]))
                if found[0] is None:
                    db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
                else:
                    db.execute(
                        "UPDATE documents SET pending_hash = NULL, pending_chunks = 0 WHERE doc_id = ?", (doc_id,)
                    )

    def set_tags(self, doc_id: str, tags: dict[str, str]) -> None:
        """Replace a document's tags (every version's record)."""
        with self._tx() as db:
            db.execute("UPDATE documents SET tags = ? WHERE doc_id = ?", (json.dumps(tags, sort_keys=True), doc_id))

    def delete(self, doc_id: str) -> bool:
        """Remove a document's record and texts; True when it existed."""
        with self._tx() as db:
            db.execute("DELETE FROM texts WHERE doc_id = ?", (doc_id,))
            cur = db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            return cur.rowcount > 0

    def _columns(self) -> builtins.list[str]:
        return [c[1] for c in self._all("PRAGMA table_info(documents)")]


def _where(
    tenant: str | None, source_prefix: str | None, groups: Sequence[str] | None = None
) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    args: list[Any] = []
    if tenant is not None:
        clauses.append("tenant = ?")
        args.append(tenant)
    if source_prefix:
        clauses.append("substr(source, 1, ?) = ?")
        args.extend([len(source_prefix), source_prefix])
    if groups is not None:  # the SQL form of citewise.types.acl_allows
        wanted = sorted(set(groups))
        marks = ", ".join("?" * len(wanted))
        any_group = f" OR EXISTS (SELECT 1 FROM json_each(documents.acl) WHERE value IN ({marks}))" if wanted else ""
        clauses.append(f"(acl = '[]'{any_group})")
        args.extend(wanted)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)


def _record(row: Sequence[Any], columns: list[str]) -> DocumentRecord:
    data = dict(zip(columns, row, strict=True))
    return DocumentRecord(
        doc_id=data["doc_id"],
        source=data["source"],
        title=data["title"],
        file_type=data["file_type"],
        content_hash=data["content_hash"],
        pending_hash=data["pending_hash"],
        tenant=data["tenant"],
        acl=tuple(json.loads(data["acl"])),
        tags=dict(json.loads(data["tags"])),
        versions=dict(json.loads(data["versions"])),
        chunks=int(data["chunks"]),
        size_bytes=int(data["size_bytes"]),
        modified_at=data["modified_at"],
        ingested_at=data["ingested_at"],
        label=data.get("label") or "",
    )


def _folder(data_dir: Path | str) -> Path:
    return Path(data_dir) / "docstore"
