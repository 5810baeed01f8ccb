"""``POST /v1/ask``: an answer with checked citations (``citewise ask --json``), or a Server-Sent Events stream.

Stream events (each ``data`` is JSON): ``token`` ``{"text"}`` as the answer is produced, ``citations``
``{"citations": [...]}``, then ``done`` (the final, verified answer, as in the JSON form, with ``answer_id``);
or ``error`` ``{"code", "message", "status", "request_id"}`` if it fails midway (the HTTP status is already 200
then). Input errors are found before the stream starts and are ordinary 4xx responses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sse_starlette.sse import EventSourceResponse

from api import serving
from api.auth import Principal
from api.capacity import AnswerSlot
from api.deps import Reader, ReadyDep
from api.labels import relabel
from api.schemas import ERRORS, AnswerOut, AskRequest, ErrorResponse, checked_filters
from api.services import ReadyServices, Services
from citewise.errors import CitewiseError, ConfigError, InvalidRequest
from citewise.telemetry import get_logger, request_id_var
from citewise.types import Answer
from retrieval import access_filter, parse_filter_object

if TYPE_CHECKING:
    from generation import Answerer

log = get_logger(__name__)
router = APIRouter(prefix="/v1", tags=["ask"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": "the answer (JSON), or with `stream: true` an event stream",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    429: {
        "model": ErrorResponse,
        "description": "CITEWISE_API__MAX_CONCURRENT_ANSWERS answers are in progress, or the caller is over its hard "
        "budget (`budget_exceeded`, Retry-After: seconds until the budget period resets)",
    },
    502: {"model": ErrorResponse, "description": "the LLM failed or answered something unusable"},
    504: {"model": ErrorResponse, "description": "the LLM did not answer in time"},
}


def offered_llms(services: Services | ReadyServices) -> tuple[str, ...]:
    return serving.offered_llms(services.settings)


def _answerer(services: ReadyServices, llm: str | None, prompt: str | None) -> Answerer:
    answerer = services.answers()
    if llm is not None and llm not in offered_llms(services):
        raise InvalidRequest(f"llm {llm!r} is not offered here; choose one of: {', '.join(offered_llms(services))}")
    if prompt is not None:
        from generation.prompts import load_prompt

        load_prompt(prompt)  # an unknown prompt is an error even where the chosen llm would not use it
    return answerer


@dataclass(frozen=True)
class _Asked:
    """A question admitted for answering: the answerer, its arguments, a cached answer (or None), and ``done``
    (records the answer, settles its budget; returns the fields the response adds)."""

    answerer: Answerer
    args: dict[str, Any]
    hit: Answer | None
    done: Callable[[Answer], dict[str, Any]]


def _admit(body: AskRequest, caller: Principal, services: ReadyServices) -> _Asked:
    answerer = _answerer(services, body.llm, body.prompt)
    filters = checked_filters(body.filters, services.settings.api.max_filter_values)
    k = body.k if "k" in body.model_fields_set else None  # unset: an experiment variant may choose it
    ticket = serving.admit(services.services, caller, body.question, body.llm, body.prompt, k, filters)
    flt = access_filter(caller.tenant, caller.groups) & parse_filter_object(filters)
    hit = serving.lookup(services.services, ticket)

    def done(answer: Answer) -> dict[str, Any]:
        _record(services, caller.tenant, body.question, answer)
        serving.settle(services.services, caller, ticket, answer, hit is not None, body.question)
        return serving.extras(services.services, ticket, hit is not None)

    return _Asked(answerer, ticket.answer_args(flt), hit, done)


@router.post("/ask", response_model=AnswerOut, responses=RESPONSES)
def ask(body: AskRequest, caller: Reader, services: ReadyDep, slot: AnswerSlot) -> Any:
    """Retrieve from the caller's documents, answer, check every citation against the quoted text.
    A repeated question may come from the response cache (``cache``); a budget may move it to the extractive
    answerer (``budget``) or refuse it (429 ``budget_exceeded``)."""
    if not body.stream:
        return answer_json_for(body, caller, services)
    asked = _admit(body, caller, services)
    try:
        # input errors raise here, before any byte is sent
        events = _replay(asked.hit) if asked.hit is not None else asked.answerer.stream(body.question, **asked.args)
    except ConfigError as exc:  # the chosen llm/prompt cannot run with this server's settings
        raise InvalidRequest(exc.message) from None
    stream = slot.until_done(_sse(events, services, asked.done))  # the slot goes with it
    return EventSourceResponse(stream, ping=10)


def answer_json_for(body: AskRequest, caller: Principal, services: ReadyServices) -> dict[str, Any]:
    """The JSON answer of ``POST /v1/ask`` (not streamed) for the caller (also the MCP ``ask`` tool); the caller
    of this holds an answer slot (``api.capacity``)."""
    from generation import answer_json

    asked = _admit(body, caller, services)
    try:
        answer = asked.hit if asked.hit is not None else asked.answerer.answer(body.question, **asked.args)
    except ConfigError as exc:  # the chosen llm/prompt cannot run with this server's settings
        raise InvalidRequest(exc.message) from None
    more = asked.done(answer)
    return dict(relabel({**answer_json(answer), **more}, services.docstore, services.settings))


def _replay(answer: Answer) -> Iterator[Any]:
    """A cached answer as the events of a streamed one."""
    from generation.answerer import StreamEvent

    yield StreamEvent("token", answer.answer)
    yield StreamEvent("citations", answer.citations)
    yield StreamEvent("done", answer)


def _record(services: ReadyServices, tenant: str, question: str, answer: Answer) -> None:
    services.feedback.record_answer(tenant, question, answer)
    services.metrics.observe_stages("ask", {k: v for k, v in answer.timings_ms.items() if k != "first_token"})
    usage = answer.usage
    services.metrics.observe_usage(usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
    if answer.fallback_from:
        services.metrics.fallbacks.labels(from_model=answer.fallback_from).inc()


def _sse(
    events: Iterator[Any], services: ReadyServices, done: Callable[[Answer], dict[str, Any]]
) -> Iterator[dict[str, str]]:
    """Answerer events as SSE messages; runs in a worker thread (sse-starlette iterates it there)."""
    from generation import answer_json, citation_json

    rid = request_id_var.get() or ""
    store, cfg = services.docstore, services.settings
    try:
        for event in events:
            if event.kind == "token":
                yield {"event": "token", "data": json.dumps({"text": event.data}, ensure_ascii=False)}
            elif event.kind == "citations":
                cited = relabel({"citations": [citation_json(c) for c in event.data]}, store, cfg)
                yield {"event": "citations", "data": json.dumps(cited, ensure_ascii=False)}
            elif event.kind == "done":
                final = relabel({**answer_json(event.data), **done(event.data)}, store, cfg)
                yield {"event": "done", "data": json.dumps(final, ensure_ascii=False)}
            elif event.kind == "error":
                services.metrics.errors.labels(code=str(event.data.get("code"))).inc()
                yield {"event": "error", "data": json.dumps({**event.data, "request_id": rid}, ensure_ascii=False)}
    except CitewiseError as exc:
        services.metrics.errors.labels(code=exc.code).inc()
        data: dict[str, Any] = {"code": exc.code, "message": exc.message, "status": exc.status, "request_id": rid}
        yield {"event": "error", "data": json.dumps(data)}
    except Exception as exc:  # the stream has started: report in-band, never a traceback
        log.error("ask.stream_failed", error=repr(exc))
        services.metrics.errors.labels(code="internal_error").inc()
        data = {"code": "internal_error", "message": f"internal error; quote request id {rid}", "status": 500}
        yield {"event": "error", "data": json.dumps({**data, "request_id": rid})}
