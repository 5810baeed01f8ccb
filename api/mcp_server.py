"""The MCP server (official MCP Python SDK, ``MCPServer``): tools ``search``, ``ask`` and ``get_document``.

The tools are the REST routes' own functions (``api.routes.search.search_json``, ``api.routes.ask.answer_json_for``,
``api.routes.documents.read_span``) over the caller's tenant and ACL groups, so an MCP client sees exactly what
``POST /v1/search``, ``POST /v1/ask`` and ``GET /v1/documents/{id}`` show the same key. Where the caller and the
services come from is the transport's business (``McpBackend``):

- streamable HTTP, ``/mcp`` on the API (``mount``): every request carries ``Authorization: Bearer <key>``,
  checked against the API's keys before the MCP layer sees it (401/403, the API's error envelope) and again
  by each tool call;
- stdio, ``citewise mcp`` (``citewise.commands.mcp``): one caller for the process, from
  ``CITEWISE_MCP__API_KEY``.

A citewise error becomes a tool error naming its code (``Error executing tool get_document: not_found: ...``);
arguments that break the REST body's rules are ``invalid_request``, worded as the route's 422.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, ValidationError

from api.auth import Principal
from api.capacity import Slots
from api.errors import validation_message
from api.labels import redact_paths
from api.routes.ask import answer_json_for
from api.routes.documents import MAX_SPAN_CHARS, read_span
from api.routes.search import search_json
from api.schemas import MAX_K, AskRequest, SearchRequest
from api.services import ReadyServices
from citewise import __version__
from citewise.errors import CitewiseError, InvalidRequest

INSTRUCTIONS = (
    "Search and question answering over the documents this key may read. `search` returns ranked passages with "
    "their source, page and character span; `ask` answers with numbered citations whose quotes are checked "
    "against the documents (`ocr: true` marks text recognised from a scan); `get_document` reads any span of "
    "a document's text (doc_id, char_start, char_end from a hit or a citation)."
)
RequestT = TypeVar("RequestT", bound=BaseModel)
Filters = Annotated[
    dict[str, Any] | None,
    Field(description="doc_id, source (prefix), file_type, tag ({key: value}), modified_after, modified_before"),
]


@dataclass(frozen=True)
class McpBackend:
    """What the tools need from their transport: the caller of a request, the opened services, the answer slots
    (``CITEWISE_API__MAX_CONCURRENT_ANSWERS``) and the tracer of the stage spans (or None)."""

    caller: Callable[[Context], Principal]
    services: Callable[[], ReadyServices]
    answer_slots: Slots
    tracer: Callable[[], Any] = lambda: None


def build_server(
    backend: McpBackend,
    lifespan: Callable[[MCPServer], AbstractAsyncContextManager[Any]] | None = None,
) -> MCPServer:
    """The MCP server with its three tools over ``backend``."""
    server: MCPServer = MCPServer(
        "citewise", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan, log_level="WARNING"
    )

    def scoped(ctx: Context) -> tuple[Principal, ReadyServices]:
        try:
            return backend.caller(ctx).require("reader"), backend.services()
        except CitewiseError as exc:
            raise _tool_error(exc, None) from None

    @server.tool(description="Hybrid search over your documents: ranked passages with source, page and span.")
    def search(
        query: Annotated[str, Field(min_length=1, description="what to search for")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="how many hits")] = 10,
        filters: Filters = None,
        mode: Literal["dense", "sparse", "hybrid"] | None = None,
    ) -> dict[str, Any]:
        caller, services = scoped(ctx)
        try:
            body = _request(SearchRequest, {"query": query, "k": k, "filters": filters, "mode": mode})
            return search_json(body, caller, services, backend.tracer())
        except CitewiseError as exc:
            raise _tool_error(exc, services) from None

    @server.tool(description="Answer a question from your documents, with numbered citations quoting them exactly.")
    def ask(
        question: Annotated[str, Field(min_length=1, description="the question")],
        ctx: Context,
        k: Annotated[int | None, Field(ge=1, le=50, description="passages to retrieve (default 5)")] = None,
        filters: Filters = None,
        llm: Annotated[str | None, Field(description="PROVIDER or PROVIDER:MODEL the server offers")] = None,
    ) -> dict[str, Any]:
        caller, services = scoped(ctx)
        try:
            fields = {"question": question, "k": k, "filters": filters, "llm": llm}
            body = _request(AskRequest, {key: v for key, v in fields.items() if v is not None})
            slot = backend.answer_slots.take()
            try:
                return answer_json_for(body, caller, services)
            finally:
                slot.release()
        except CitewiseError as exc:
            raise _tool_error(exc, services) from None

    @server.tool(
        description=f"Read [char_start, char_end) of a document's text (at most {MAX_SPAN_CHARS} characters), "
        "e.g. around a hit or a citation; without char_end, from char_start on."
    )
    def get_document(
        doc_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")],
        ctx: Context,
        char_start: Annotated[int, Field(ge=0)] = 0,
        char_end: Annotated[int | None, Field(ge=0)] = None,
    ) -> dict[str, Any]:
        caller, services = scoped(ctx)
        try:
            return read_span(services, caller, doc_id, char_start, char_end)
        except CitewiseError as exc:
            raise _tool_error(exc, services) from None

    return server


def _request(model: type[RequestT], fields: dict[str, Any]) -> RequestT:
    """The REST route's request body from the tool's arguments; its rules broken: ``InvalidRequest``, as the route's
    422 says them."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc.errors())) from None


def _tool_error(exc: CitewiseError, services: ReadyServices | None) -> ToolError:
    message = exc.message if services is None else redact_paths(exc.message, services.settings)
    return ToolError(f"{exc.code}: {message}")
