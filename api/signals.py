"""Implicit feedback: what a reader does with an answer without rating it.

Kinds: ``copy`` (copied the answer), ``open_citation`` (opened a cited source) — sent by clients with
``POST /v1/signals`` — and ``reask`` (the same key asked the same normalized question again within ``REASK_S``
seconds: the first answer did not do), recorded by the server itself. Stored in ``<data_dir>/api/signals.sqlite``
(one row per answer and kind), counted in ``citewise_answer_signals_total{kind}``, and shown per variant by the
experiment report (share of answers with each signal).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from api.cache import normalize
from citewise.transactions import SqliteStore, read_rows

KINDS = ("copy", "open_citation", "reask")
REASK_S = 60.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    answer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (answer_id, kind)
);
"""


class SignalStore(SqliteStore):
    def __init__(self, data_dir: Path | str) -> None:
        super().__init__(Path(data_dir) / "api" / "signals.sqlite", _SCHEMA, synchronous="FULL")

    def add(self, answer_id: str, tenant: str, kind: str) -> bool:
        """Record ``kind`` for the answer; False when it was already recorded (a signal counts once per answer)."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO signals VALUES (?, ?, ?, ?)", (answer_id, kind, tenant, time.time())
            )
            return cur.rowcount > 0


def signals_of(data_dir: Path) -> dict[str, set[str]]:
    """Every answer's signals (read-only; empty without a store)."""
    rows = read_rows(data_dir / "api" / "signals.sqlite", "SELECT answer_id, kind FROM signals")
    out: dict[str, set[str]] = {}
    for answer_id, kind in rows:
        out.setdefault(str(answer_id), set()).add(str(kind))
    return out


class ReaskWatch:
    """The last answer per (tenant, key, normalized question), to tell a re-ask within ``window_s``; bounded."""

    def __init__(self, window_s: float = REASK_S, most: int = 10_000, clock: Any = time.monotonic) -> None:
        self.window_s, self.most, self._clock = window_s, most, clock
        self._last: OrderedDict[tuple[str, str, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, tenant: str, key_id: str, question: str, answer_id: str) -> str | None:
        """Remember this answer; the earlier answer's id when the same question came within the window."""
        key, now = (tenant, key_id, normalize(question)), self._clock()
        with self._lock:
            before = self._last.pop(key, None)
            self._last[key] = (now, answer_id)
            while len(self._last) > self.most:
                self._last.popitem(last=False)
        if before is not None and now - before[0] <= self.window_s:
            return before[1]
        return None
