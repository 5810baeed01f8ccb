"""Structured logs (structlog, key-value, with a request id) and OpenTelemetry spans per stage."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import trace

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_tracer = trace.get_tracer("citewise")


def _add_request_id(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    rid = request_id_var.get()
    if rid is not None:
        event.setdefault("request_id", rid)
    return event


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """A logger on the *current* ``sys.stderr`` (looked up per call, so redirections are followed)."""
    return structlog.PrintLogger(sys.stderr)


def configure_logging(level: str = "INFO") -> None:
    """Key-value log lines on stderr (stdout stays clean for ``--json`` output)."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event", "request_id"]),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]


@contextmanager
def stage(name: str, timings: dict[str, float] | None = None, **attributes: object) -> Iterator[None]:
    """An OpenTelemetry span named ``citewise.<name>``; its wall time in ms is added to ``timings[name]``."""
    start = time.perf_counter()
    with _tracer.start_as_current_span(f"citewise.{name}") as span:
        for key, value in attributes.items():
            span.set_attribute(key, value)  # type: ignore[arg-type]
        try:
            yield
        finally:
            if timings is not None:
                timings[name] = timings.get(name, 0.0) + (time.perf_counter() - start) * 1000.0
