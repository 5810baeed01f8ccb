"""Durable answers and feedback: SQLite at ``<data_dir>/api/feedback.sqlite``.

Every answer the API gives is recorded (question, answer, citations), so a thumbs up/down can be checked
against the tenant that got the answer and exported later with its context, as material for eval sets.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from citewise.errors import NotFound
from citewise.transactions import SqliteStore
from citewise.types import Answer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    citations TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers (answer_id),
    tenant TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    correction TEXT,
    request_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_tenant ON feedback (tenant, feedback_id);
"""


_LIST_COLUMNS = (
    *("feedback_id", "answer_id", "rating", "comment", "correction", "request_id", "created_at"),
    *("question", "answer", "abstained", "citations", "model", "prompt"),
)


class FeedbackStore(SqliteStore):
    def __init__(self, data_dir: Path | str) -> None:
        super().__init__(Path(data_dir) / "api" / "feedback.sqlite", _SCHEMA, synchronous="FULL")

    def record_answer(self, tenant: str, question: str, answer: Answer) -> None:
        citations = json.dumps([asdict(c) for c in answer.citations], ensure_ascii=False)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer.answer_id,
                    tenant,
                    question,
                    answer.answer,
                    int(answer.abstained),
                    citations,
                    answer.model,
                    answer.prompt,
                    time.time(),
                ),
            )

    def require_answer(self, tenant: str, answer_id: str) -> None:
        """``NotFound`` unless ``answer_id`` was given to ``tenant``."""
        with self._lock:
            row = self._db.execute("SELECT tenant FROM answers WHERE answer_id = ?", (answer_id,)).fetchone()
        if row is None or row[0] != tenant:
            raise NotFound(f"no answer {answer_id!r}; use the answer_id that POST /v1/ask returned")

    def add(
        self, tenant: str, answer_id: str, rating: str, comment: str | None, correction: str | None, request_id: str
    ) -> int:
        """Store one piece of feedback; ``NotFound`` unless ``answer_id`` was given to ``tenant``."""
        with self._tx() as db:
            row = db.execute("SELECT tenant FROM answers WHERE answer_id = ?", (answer_id,)).fetchone()
            if row is None or row[0] != tenant:
                raise NotFound(f"no answer {answer_id!r}; use the answer_id that POST /v1/ask returned")
            cur = db.execute(
                "INSERT INTO feedback (answer_id, tenant, rating, comment, correction, request_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (answer_id, tenant, rating, comment, correction, request_id, time.time()),
            )
            return int(cur.lastrowid or 0)

    def list(self, tenant: str, offset: int = 0, limit: int = 100, rating: str | None = None) -> list[dict[str, Any]]:
        """Feedback of ``tenant``, oldest first, each with its question, answer and citations."""
        where, args = "f.tenant = ?", [tenant]
        if rating is not None:
            where += " AND f.rating = ?"
            args.append(rating)
        with self._lock:
            rows = self._db.execute(
                "SELECT f.feedback_id, f.answer_id, f.rating, f.comment, f.correction, f.request_id, f.created_at,"
                " a.question, a.answer, a.abstained, a.citations, a.model, a.prompt"
                f" FROM feedback f JOIN answers a ON a.answer_id = f.answer_id WHERE {where}"
                " ORDER BY f.feedback_id LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        keys = _LIST_COLUMNS
        out = []
        for row in rows:
            item = dict(zip(keys, row, strict=True))
            item["abstained"] = bool(item["abstained"])
            item["citations"] = json.loads(item["citations"])
            out.append(item)
        return out

    def count(self, tenant: str, rating: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM feedback WHERE tenant = ?", [tenant]
        if rating is not None:
            sql += " AND rating = ?"
            args.append(rating)
        with self._lock:
            return int(self._db.execute(sql, args).fetchone()[0])
