"""One ASGI middleware around everything: request id, access log, metrics, span, body size, last-resort 500.

It is the outermost layer, so every response (errors included) carries ``X-Request-ID``, and an exception
that escaped every handler becomes the 500 envelope here: the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import contextlib
import re
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge, error_response
from citewise.telemetry import get_logger, request_id_var

log = get_logger("api.access")
_RID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True)
class BodyLimit:
    """At most ``size`` body bytes; past it a 413 whose message is ``message`` (it names the setting)."""

    size: int
    message: str


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Any,
        tracer: Callable[[], Any],
        body_limit: Callable[[Scope], BodyLimit | None],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")
        rid = incoming if _RID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        state = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"], state["status"] = True, message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        limit = self.body_limit(scope)
        tracer = self.tracer()
        span_cm = (
            tracer.start_as_current_span(f"{scope['method']} {scope['path']}") if tracer else contextlib.nullcontext()
        )
        try:
            with span_cm as span:
                try:
                    if limit is not None and _declared_size(headers) > limit.size:
                        raise PayloadTooLarge(limit.message)
                    await self.app(scope, _bounded(receive, limit) if limit is not None else receive, send_with_id)
                except PayloadTooLarge as exc:
                    if not state["started"]:
                        await error_response(413, exc.code, exc.message)(scope, receive, send_with_id)
                except Exception as exc:
                    log.error(
                        "request.failed",
                        method=scope["method"],
                        path=scope["path"],
                        error=repr(exc),
                        traceback=traceback.format_exc(),
                    )
                    self.metrics.errors.labels(code="internal_error").inc()
                    if not state["started"]:
                        response = error_response(
                            500, "internal_error", f"internal error; quote request id {rid} when reporting it"
                        )
                        await response(scope, receive, send_with_id)
                if span is not None:
                    route = _route(scope)
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.status_code", int(state["status"]))
                    span.set_attribute("citewise.request_id", rid)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            self.metrics.requests.labels(method=scope["method"], route=route, status=str(state["status"])).inc()
            self.metrics.latency.labels(method=scope["method"], route=route).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=state["status"],
                ms=round(elapsed * 1000.0, 1),
            )
            request_id_var.reset(token)


_UNROUTED = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/mcp")


def _route(scope: Scope) -> str:
    """The route template (bounded label values): ``/v1/documents/{doc_id}``, ``/static``, or ``unmatched``."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    path = str(scope.get("path", ""))
    if path.startswith("/static/"):
        return "/static"
    return path if path in _UNROUTED else "unmatched"


def _declared_size(headers: Headers) -> int:
    value = headers.get("content-length") or "0"
    return int(value) if value.isdigit() else 0


def _bounded(receive: Receive, limit: BodyLimit) -> Receive:
    """``receive`` that raises ``PayloadTooLarge`` once more than ``limit.size`` body bytes have arrived."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit.size:
                raise PayloadTooLarge(limit.message)
        return message

    return wrapped
