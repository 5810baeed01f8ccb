"""Conversations: their turns (question, standalone question, answer), kept per tenant and key.

One SQLite file, ``<data_dir>/conversations.sqlite`` (WAL journal, one transaction per write, as the docstore
and the API's feedback store). A conversation belongs to one ``(tenant, owner)`` pair, ``owner`` being the
API key's id (``citewise chat``: ``local``). Every read and write names that pair: a conversation of
another key or tenant is ``NotFound``, exactly like one that never existed, so its existence does not leak.

Retention: a conversation not written for ``retention_days`` is deleted (checked on every write and
read, so an expired one is never served); each key keeps at most ``max_conversations`` (the oldest go).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest, NotFound
from citewise.settings import ConversationSettings
from citewise.transactions import SqliteStore

FILE_NAME = "conversations.sqlite"
MAX_TITLE_CHARS = 200
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (tenant, owner, updated_at);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated_at);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    question TEXT NOT NULL,
    standalone TEXT NOT NULL,
    rewrite TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, n)
);
"""
_CONVERSATION_COLUMNS = "conversation_id, tenant, owner, title, turns, created_at, updated_at"


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    tenant: str
    owner: str
    title: str
    turns: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Turn:
    """One exchange: what was asked, the standalone question retrieval used, how it was made, the answer (JSON)."""

    n: int
    question: str
    standalone: str
    rewrite: str  # none | rule | llm | off (see generation.followup)
    answer: dict[str, Any]
    created_at: float


class ConversationStore(SqliteStore):
    def __init__(
        self, data_dir: Path | str, settings: ConversationSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.clock = clock
        super().__init__(Path(data_dir) / FILE_NAME, _SCHEMA, synchronous="FULL", foreign_keys=True)
        self.purge()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cutoff(self) -> float | None:
        days = self.settings.retention_days
        return None if days <= 0 else self.clock() - days * 86_400.0

    # -- writes --------------------------------------------------------------------------------------
    def purge(self) -> int:
        """Delete the conversations past retention; how many went."""
        cutoff = self._cutoff()
        if cutoff is None:
            return 0
        with self._tx() as db:
            return db.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,)).rowcount

    def create(self, tenant: str, owner: str, title: str = "") -> Conversation:
        """A new, empty conversation of ``(tenant, owner)``; the key's oldest go beyond ``max_conversations``."""
        self.purge()
        now = self.clock()
        conversation = Conversation(uuid.uuid4().hex, tenant, owner, _title(title), 0, now, now)
        with self._tx() as db:
            db.execute(
                f"INSERT INTO conversations ({_CONVERSATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation.conversation_id,
                    tenant,
                    owner,
                    conversation.title,
                    0,
                    now,
                    now,
                ),
            )
            db.execute(
                "DELETE FROM conversations WHERE conversation_id IN (SELECT conversation_id FROM conversations"
                " WHERE tenant = ? AND owner = ? ORDER BY updated_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
                (tenant, owner, self.settings.max_conversations),
            )
        return conversation

    def add_turn(
        self,
        conversation_id: str,
        tenant: str,
        owner: str,
        question: str,
        standalone: str,
        rewrite: str,
        answer: dict[str, Any],
    ) -> Turn:
        """Append a turn; ``NotFound`` unless it is ``(tenant, owner)``'s conversation; ``InvalidRequest`` when full."""
        self.purge()
        now = self.clock()
        with self._tx() as db:
            conversation = self._owned(db, conversation_id, tenant, owner)
            if conversation.turns >= self.settings.max_turns:
                raise InvalidRequest(
                    f"conversation {conversation_id!r} has {conversation.turns} messages, the most one may have "
                    f"(CITEWISE_CONVERSATIONS__MAX_TURNS={self.settings.max_turns}); start a new conversation"
                )
            turn = Turn(conversation.turns + 1, question, standalone, rewrite, answer, now)
            db.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, turn.n, question, standalone, rewrite, json.dumps(answer, ensure_ascii=False), now),
            )
            db.execute(
                "UPDATE conversations SET turns = ?, updated_at = ?, title = CASE WHEN title = '' THEN ? ELSE title END"
                " WHERE conversation_id = ?",
                (turn.n, now, _title(question), conversation_id),
            )
        return turn

    def delete(self, conversation_id: str, tenant: str, owner: str) -> int:
        """Delete a conversation of ``(tenant, owner)`` with its turns; how many turns it had."""
        with self._tx() as db:
            conversation = self._owned(db, conversation_id, tenant, owner)
            db.execute("DELETE FROM conversations WHERE conversation_id = ?", (conversation_id,))
        return conversation.turns

    # -- reads ---------------------------------------------------------------------------------------
    def get(self, conversation_id: str, tenant: str, owner: str) -> Conversation:
        with self._lock:
            return self._owned(self._db, conversation_id, tenant, owner)

    def turns(self, conversation_id: str, tenant: str, owner: str, last: int | None = None) -> list[Turn]:
        """The turns, oldest first (``last``: only the newest ``last`` of them)."""
        with self._lock:
            self._owned(self._db, conversation_id, tenant, owner)
            rows = self._db.execute(
                "SELECT n, question, standalone, rewrite, answer, created_at FROM turns WHERE conversation_id = ?"
                " ORDER BY n DESC LIMIT ?",
                (conversation_id, -1 if last is None else last),
            ).fetchall()
        return [Turn(n, q, s, r, json.loads(a), t) for n, q, s, r, a, t in reversed(rows)]

    def list(self, tenant: str, owner: str, offset: int = 0, limit: int = 50) -> tuple[int, list[Conversation]]:
        """``(total, page)`` of ``(tenant, owner)``'s conversations, the most recently written first."""
        where, args = "tenant = ? AND owner = ? AND updated_at >= ?", (tenant, owner, self._cutoff() or 0.0)
        with self._lock:
            total = int(self._db.execute(f"SELECT COUNT(*) FROM conversations WHERE {where}", args).fetchone()[0])
            rows = self._db.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE {where}"
                " ORDER BY updated_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return total, [Conversation(*row) for row in rows]

    def _owned(self, db: sqlite3.Connection, conversation_id: str, tenant: str, owner: str) -> Conversation:
        row = db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE conversation_id = ? AND tenant = ? AND owner = ?",
            (conversation_id, tenant, owner),
        ).fetchone()
        cutoff = self._cutoff()
        if row is None or (cutoff is not None and row[-1] < cutoff):
            kept = f"; conversations are kept {self.settings.retention_days:g} days" if cutoff is not None else ""
            raise NotFound(f"no conversation {conversation_id[:64]!r} for this key{kept}; start a new one")
        return Conversation(*row)


def _title(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_TITLE_CHARS else flat[: MAX_TITLE_CHARS - 1] + "…"
