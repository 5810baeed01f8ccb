"""``/mcp`` on the API: the MCP server (``api.mcp_server``) over streamable HTTP, behind the API's keys.

Stateless streamable HTTP (every POST stands alone, so any worker can answer it and no session outlives its
request). A request without a valid key for the ``reader`` role is answered 401/403 with the API's error
envelope before the MCP layer reads it; each tool call then takes the caller from the same header, so a
session never carries one key's rights to another. Without a keys file (open mode, loopback only) DNS
rebinding protection admits only loopback ``Host``/``Origin`` headers, as a browser could otherwise reach it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import KeyRing, Principal
from api.errors import error_response
from api.mcp_server import McpBackend, build_server
from citewise.errors import AuthError

if TYPE_CHECKING:
    from fastapi import FastAPI

PATH = "/mcp"
LOOPBACK = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)


class KeyGuard:
    """Refuses an HTTP request whose ``Authorization`` header is not a reader's key (the API's 401/403)."""

    def __init__(self, app: ASGIApp, keyring: KeyRing) -> None:
        self.app = app
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                self.keyring.authenticate(Headers(scope=scope).get("authorization")).require("reader")
            except AuthError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
                await error_response(exc.status, exc.code, exc.message, headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def mount(app: FastAPI, keyring: KeyRing, allow_open: bool) -> Callable[[], AbstractAsyncContextManager[None]]:
    """Add ``/mcp`` to ``app``; returns what the app's lifespan must run (the MCP session manager)."""

    def caller(ctx: Context) -> Principal:
        return keyring.authenticate((ctx.headers or {}).get("authorization"))

    backend = McpBackend(
        caller=caller,
        services=lambda: app.state.services.require(),
        answer_slots=app.state.answer_slots,
        tracer=lambda: app.state.tracer,
    )
    server = build_server(backend)
    security = (
        LOOPBACK
        if keyring.open and not allow_open
        else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    server.streamable_http_app(stateless_http=True, json_response=True, transport_security=security)
    manager = server.session_manager
    app.router.routes.append(Route(PATH, endpoint=KeyGuard(StreamableHTTPASGIApp(manager), keyring)))

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        async with manager.run():
            yield

    return running
