"""``citewise mcp``: the MCP tools (``api.mcp_server``) over stdio, as one caller, on services opened here.

The services are the API's own (``api.services.Services``: index, models, docstore, answer cache, budgets,
feedback), opened in the MCP server's lifespan, once the SDK has moved fd 1 aside for the protocol, so
nothing a library prints at start-up can corrupt the JSON-RPC stream. The caller is fixed for the process
(``principal``, from ``CITEWISE_MCP__API_KEY``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import MCPServer

from api.auth import Principal
from api.capacity import Slots
from api.mcp_server import McpBackend, build_server
from api.metrics import Metrics
from api.services import ReadyServices, Services
from citewise.errors import IndexUnavailable
from citewise.settings import Settings


def serve_stdio(settings: Settings, principal: Principal) -> None:
    """Serve until the client closes stdin."""
    opened: list[Services] = []

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[Any]:
        services = Services(settings, Metrics())
        await anyio.to_thread.run_sync(services.start)
        opened.append(services)
        try:
            yield None
        finally:
            await anyio.to_thread.run_sync(services.close)

    def services() -> ReadyServices:
        if not opened:
            raise IndexUnavailable("the MCP server is still starting; call again in a moment")
        return opened[0].require()

    slots = Slots(settings.api.max_concurrent_answers, "CITEWISE_API__MAX_CONCURRENT_ANSWERS", "answers (ask)")
    backend = McpBackend(caller=lambda _ctx: principal, services=services, answer_slots=slots)
    build_server(backend, lifespan).run("stdio")
