"""Conversations over the answerer: a follow-up is made standalone (``generation.followup``), answered, and kept.

Used by the API (``/v1/conversations``) and ``citewise chat`` alike::

    chat = Conversations(store, answerer, rewriter)
    rewrite = chat.prepare(cid, tenant, owner, message)        # NotFound / InvalidRequest before any work
    answer = answerer.answer(rewrite.standalone, ...)          # or answerer.stream(...) through recording(...)
    chat.record(cid, tenant, owner, rewrite, answer_json(answer))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from citewise.conversations import ConversationStore, Turn
from citewise.errors import InvalidRequest
from citewise.settings import Settings
from generation.answerer import MAX_QUESTION_CHARS, StreamEvent
from generation.followup import HISTORY_TURNS, PriorTurn, QuestionRewriter, Rewrite
from generation.providers import ChatModel


class Conversations:
    def __init__(self, store: ConversationStore, rewriter: QuestionRewriter) -> None:
        self.store = store
        self.rewriter = rewriter

    @classmethod
    def from_settings(cls, settings: Settings, store: ConversationStore, chat: ChatModel | None) -> Conversations:
        """Rewrites with ``chat``, the configured LLM (the answerer's ``default_chat``; None: the rule)."""
        cfg = settings.conversations
        return cls(store, QuestionRewriter(chat, cfg.rewrite, cfg.rewrite_prompt))

    def prepare(self, conversation_id: str, tenant: str, owner: str, message: str) -> Rewrite:
        """Check the message and the conversation (``(tenant, owner)``'s, not full), then rewrite the message."""
        if not isinstance(message, str) or not message.strip():
            raise InvalidRequest("the message is empty; write a question")
        if len(message) > MAX_QUESTION_CHARS:
            raise InvalidRequest(f"the message has {len(message)} characters; the limit is {MAX_QUESTION_CHARS}")
        conversation = self.store.get(conversation_id, tenant, owner)
        limit = self.store.settings.max_turns
        if conversation.turns >= limit:
            raise InvalidRequest(
                f"conversation {conversation_id!r} has {conversation.turns} messages, the most one may have "
                f"(CITEWISE_CONVERSATIONS__MAX_TURNS={limit}); start a new conversation"
            )
        turns = self.store.turns(conversation_id, tenant, owner, last=HISTORY_TURNS)
        history = [PriorTurn(t.question, t.standalone, str(t.answer.get("answer", ""))) for t in turns]
        return self.rewriter.rewrite(message, history)

    def record(self, conversation_id: str, tenant: str, owner: str, rewrite: Rewrite, answer: dict[str, Any]) -> Turn:
        return self.store.add_turn(
            conversation_id, tenant, owner, rewrite.question, rewrite.standalone, rewrite.method, answer
        )


def recording(events: Iterator[StreamEvent], on_done: Callable[[Any], None]) -> Iterator[StreamEvent]:
    """``events`` unchanged; ``on_done(answer)`` runs when the ``done`` event comes, before it is passed on."""
    for event in events:
        if event.kind == "done":
            on_done(event.data)
        yield event


def turn_json(turn: Turn) -> dict[str, Any]:
    """A stored turn as the API and ``citewise chat --json`` show it."""
    return {
        "turn": turn.n,
        "question": turn.question,
        "rewritten_question": turn.standalone,
        "rewrite": turn.rewrite,
        "answer": turn.answer,
        "created_at": turn.created_at,
    }
