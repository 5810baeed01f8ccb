"""``/v1/conversations``: questions with follow-ups, kept per tenant and API key.

``POST /v1/conversations`` starts one; ``POST /v1/conversations/{id}/messages`` asks in it: the message is
rewritten into a standalone question from the earlier turns (``generation.followup``), answered as
``/v1/ask`` does (JSON, or with ``stream: true`` the same Server-Sent Events, preceded by a ``rewrite`` event
``{"question", "rewritten_question", "rewrite"}``; the ``done`` event carries the JSON form), and kept.
``GET /v1/conversations`` lists the caller's, ``GET /v1/conversations/{id}`` gives one with its turns,
``DELETE`` removes it. A conversation of another key or tenant is 404, as one that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from api import serving
from api.capacity import AnswerSlot
from api.deps import Reader, ServicesDep
from api.labels import relabel
from api.routes.ask import RESPONSES, _answerer, _record, _sse
from api.schemas import ERRORS, AnswerOut, FilterValue, _Body, checked_filters
from citewise.conversations import MAX_TITLE_CHARS, Conversation
from citewise.errors import ConfigError, InvalidRequest
from retrieval import access_filter, parse_filter_object
from retrieval.retriever import MAX_QUERY_CHARS

router = APIRouter(prefix="/v1", tags=["conversations"])


class ConversationCreate(_Body):
    title: str = Field("", max_length=MAX_TITLE_CHARS, description="default: the first message")


class ConversationOut(BaseModel):
    conversation_id: str
    title: str
    turns: int
    created_at: float
    updated_at: float


class ConversationList(BaseModel):
    total: int
    offset: int
    limit: int
    conversations: list[ConversationOut]


class MessageRequest(_Body):
    message: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the question or follow-up")
    k: int | None = Field(None, ge=1, le=50, description="how many passages to retrieve (default: the variant's or 5)")
    filters: dict[str, FilterValue] | None = Field(None, description="as in /v1/search")
    llm: str | None = Field(None, max_length=200, description="as in /v1/ask")
    prompt: str | None = Field(None, max_length=100, description="as in /v1/ask")
    stream: bool = Field(False, description="Server-Sent Events: rewrite, token, citations, done, error")


class TurnOut(BaseModel):
    turn: int
    question: str
    rewritten_question: str = Field(description="the standalone question retrieval and the answer used")
    rewrite: str = Field(description="how it was made: none (not a follow-up), rule, llm, off")
    answer: AnswerOut
    created_at: float


class MessageOut(TurnOut):
    conversation_id: str
    budget: dict[str, Any] | None = Field(
        None, description="as in /v1/ask: where a budget applies, its state (over the soft budget: extractive)"
    )
    experiment: dict[str, str] | None = Field(None, description="as in /v1/ask: the experiment and variant")


class ConversationDetail(ConversationOut):
    messages: list[TurnOut]


class ConversationDeleted(BaseModel):
    conversation_id: str
    deleted_turns: int


def _out(c: Conversation) -> dict[str, Any]:
    return {k: getattr(c, k) for k in ("conversation_id", "title", "turns", "created_at", "updated_at")}


@router.post("/conversations", status_code=status.HTTP_201_CREATED, response_model=ConversationOut, responses=ERRORS)
def create_conversation(caller: Reader, services: ServicesDep, body: ConversationCreate | None = None) -> Any:
    """Start a conversation (yours alone: other keys, even of your tenant, cannot see it)."""
    title = body.title if body is not None else ""
    return _out(services.conversations.create(caller.tenant, caller.key_id, title))


@router.get("/conversations", response_model=ConversationList, responses=ERRORS)
def list_conversations(
    caller: Reader,
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Any:
    """Your conversations, the most recently used first."""
    total, page = services.conversations.list(caller.tenant, caller.key_id, offset, limit)
    return {"total": total, "offset": offset, "limit": limit, "conversations": [_out(c) for c in page]}


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail, responses=ERRORS)
def get_conversation(conversation_id: str, caller: Reader, services: ServicesDep) -> Any:
    """One of your conversations with its messages (question, rewritten question, answer), oldest first."""
    from generation.conversation import turn_json

    store = services.conversations
    conversation = store.get(conversation_id, caller.tenant, caller.key_id)
    turns = store.turns(conversation_id, caller.tenant, caller.key_id)
    return {**_out(conversation), "messages": [turn_json(t) for t in turns]}


@router.delete("/conversations/{conversation_id}", response_model=ConversationDeleted, responses=ERRORS)
def delete_conversation(conversation_id: str, caller: Reader, services: ServicesDep) -> Any:
    """Delete one of your conversations and its messages."""
    deleted = services.conversations.delete(conversation_id, caller.tenant, caller.key_id)
    return {"conversation_id": conversation_id, "deleted_turns": deleted}


@router.post("/conversations/{conversation_id}/messages", response_model=MessageOut, responses=RESPONSES)
def post_message(
    conversation_id: str, body: MessageRequest, caller: Reader, services: ServicesDep, slot: AnswerSlot
) -> Any:
    """Ask in a conversation: a follow-up is rewritten into a standalone question, then answered as /v1/ask does."""
    from generation import answer_json
    from generation.conversation import Conversations, recording, turn_json

    store = services.conversations
    store.get(conversation_id, caller.tenant, caller.key_id)  # 404 before anything else (the index may be down)
    ready = services.require()
    answerer = _answerer(ready, body.llm, body.prompt)
    filters = checked_filters(body.filters, services.settings.api.max_filter_values)
    # budgets (429 over hard, extractive over soft) and the caller's experiment variant, as /v1/ask; no response
    # cache (a follow-up's text is not a question on its own)
    admitted = serving.admit(services, caller, body.message, body.llm, body.prompt, body.k, filters, conversation_id)
    ticket = replace(admitted, key=None)
    notes = {k: v for k, v in serving.extras(services, ticket, False).items() if k in ("budget", "experiment")}
    # a rewrite setting that cannot work (REWRITE=llm without an LLM, an unknown REWRITE_PROMPT) is the server's
    # ConfigError (500, naming the variable), not the client's
    chat = Conversations.from_settings(services.settings, store, answerer.default_chat)
    rewrite = chat.prepare(conversation_id, caller.tenant, caller.key_id, body.message)
    flt = access_filter(caller.tenant, caller.groups) & parse_filter_object(filters)
    args = ticket.answer_args(flt)
    question = rewrite.standalone

    def recorded(answer: Any) -> dict[str, Any]:
        _record(ready, caller.tenant, question, answer)
        serving.settle(services, caller, ticket, answer, False)  # spend, experiment row
        return {}

    def keep(answer: Any) -> dict[str, Any]:
        shown = relabel(answer_json(answer), services.docstore, services.settings)
        turn = chat.record(conversation_id, caller.tenant, caller.key_id, rewrite, shown)
        return {"conversation_id": conversation_id, **turn_json(turn), **notes}

    try:
        if body.stream:
            kept: list[dict[str, Any]] = []
            events = recording(answerer.stream(question, **args), lambda a: kept.append(keep(a)))
            head = {"question": rewrite.question, "rewritten_question": question, "rewrite": rewrite.method}
            stream = slot.until_done(_stream(head, _sse(events, ready, recorded), kept))
            return EventSourceResponse(stream, ping=10)  # the answer slot goes with the stream
        answer = answerer.answer(question, **args)
    except ConfigError as exc:
        raise InvalidRequest(exc.message) from None
    recorded(answer)
    return keep(answer)


def _stream(head: dict[str, Any], events: Iterator[dict[str, str]], kept: list[dict[str, Any]]) -> Iterator[Any]:
    """The ``rewrite`` event, then /v1/ask's events with ``done`` carrying the stored message (the JSON form)."""
    yield {"event": "rewrite", "data": json.dumps(head, ensure_ascii=False)}
    for event in events:
        if event.get("event") == "done" and kept:
            event = {"event": "done", "data": json.dumps(kept[-1], ensure_ascii=False)}
        yield event
