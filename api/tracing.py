"""OpenTelemetry spans, only when an exporter is configured.

``OTEL_TRACES_EXPORTER=console`` prints spans on stderr; ``otlp`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT`` set)
sends them with the OTLP/HTTP exporter when ``opentelemetry-exporter-otlp-proto-http`` is installed. Without
either, or without the OpenTelemetry SDK, no spans are made and a log line says why.
Each request gets a span; its stages (encode, retrieve, rerank, generate, verify, ...) become child spans
laid end to end from the durations the stages measured themselves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from citewise.telemetry import get_logger

log = get_logger(__name__)


def exporter_from_env() -> Any | None:
    """The span exporter the environment asks for, or None (no spans)."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not name and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        name = "otlp"
    if name in ("", "none"):
        return None
    try:
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter()
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter()
    except ImportError as exc:
        log.warning("tracing.off", reason=f"{exc.name} is not installed", exporter=name)
        return None
    log.warning("tracing.off", reason="unknown OTEL_TRACES_EXPORTER (use console or otlp)", exporter=name)
    return None


def make_provider(exporter: Any | None) -> Any | None:
    """A tracer provider of its own that sends spans to ``exporter`` (None: tracing is off).

    Spans are exported by a ``BatchSpanProcessor`` on its own thread: ending a span inside the async middleware
    only queues it (a slow collector never stalls the event loop). ``provider.shutdown()`` exports what is left."""
    if exporter is None:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("tracing.off", reason="opentelemetry-sdk is not installed")
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": "citewise-api"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def record_stages(tracer: Any | None, op: str, timings_ms: Mapping[str, float], ended_ns: int | None = None) -> None:
    """Child spans ``citewise.<op>.<stage>`` of the current span, end to end, ending at ``ended_ns``."""
    if tracer is None:
        return
    stages = [(k, v) for k, v in timings_ms.items() if k != "total"]
    end = ended_ns if ended_ns is not None else time.time_ns()
    start = end - int(sum(max(ms, 0.0) for _, ms in stages) * 1e6)
    for stage, ms in stages:
        stop = start + int(max(ms, 0.0) * 1e6)
        span = tracer.start_span(f"citewise.{op}.{stage}", start_time=start)
        span.set_attribute("citewise.duration_ms", float(ms))
        span.end(end_time=stop)
        start = stop
