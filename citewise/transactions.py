"""SQLite stores: one shared connection per store, write transactions (docstore, API jobs and feedback)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (take the write lock now, not at the first write), commit, or roll back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def read_rows(path: Path, sql: str) -> list[Any]:
    """The rows of ``sql`` over the SQLite file at ``path``, opened read-only (none when there is no file): for
    reports that must not create or lock a store another process writes."""
    if not path.is_file():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


class SqliteStore:
    """A store on one SQLite connection shared by the threads of a process (WAL): ``_lock`` around each statement
    or transaction on ``_db`` (``_tx``: one ``BEGIN IMMEDIATE`` transaction), so a transaction of one thread never
    takes in another thread's statements. The docstore, conversations, the API's job and feedback stores are ones."""

    def __init__(self, path: Path, schema: str, synchronous: str = "NORMAL", foreign_keys: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        if foreign_keys:
            self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(schema)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, immediate(self._db) as db:
            yield db
