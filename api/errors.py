"""The one error envelope: every 4xx/5xx body is ``{"error": {"code", "message", "request_id"}}``.

``CitewiseError`` subclasses carry their own ``code`` and HTTP ``status``; request validation becomes 422
``invalid_request``; anything unexpected becomes 500 ``internal_error`` (logged with its traceback, which
never reaches the client; see ``api.middleware``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from citewise.errors import AuthError, CitewiseError
from citewise.telemetry import get_logger, request_id_var

log = get_logger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class PayloadTooLarge(CitewiseError):
    code = "payload_too_large"
    status = 413


class Conflict(CitewiseError):
    """The request does not fit the resource's state (e.g. cancelling a job that has finished)."""

    code = "conflict"
    status = 409


class TooManyJobs(CitewiseError):
    code = "too_many_requests"
    status = 429


class ServerBusy(CitewiseError):
    """Every slot of a capped route is taken; the response says when to retry (``Retry-After``)."""

    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def envelope(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": request_id_var.get() or ""}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(envelope(code, message), status_code=status, headers=headers)


def count_error(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code=code).inc()


async def _citewise_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CitewiseError)
    count_error(request, exc.code)
    log.info("request.error", code=exc.code, status=exc.status, message=exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) and exc.status == 401 else None
    if isinstance(exc, ServerBusy):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return error_response(exc.status, exc.code, exc.message, headers)


def validation_message(errors: Any) -> str:
    """Pydantic errors as one line per field: ``k: Input should be less than or equal to 100``."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    count_error(request, "invalid_request")
    return error_response(422, "invalid_request", validation_message(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, CitewiseError):  # e.g. the upload size guard tripped inside form parsing
        return await _citewise_error(request, exc.__cause__)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    count_error(request, code)
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs for the API"
    return error_response(exc.status_code, code, message, dict(exc.headers or {}) or None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CitewiseError, _citewise_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
