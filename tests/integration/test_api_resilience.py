"""The API when the index is unavailable (503, then recovery) and its OpenTelemetry spans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api import create_app
from citewise.encoders import collection_spec
from citewise.index_edge import EdgeIndex
from citewise.settings import Settings

pytestmark = pytest.mark.integration


def test_locked_index_is_503_until_it_is_released_and_stages_become_spans(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    settings = Settings(data_dir=tmp_path / "data", retrieval={"rerank": False})
    holder = EdgeIndex(settings.index_dir, settings.qdrant.collection)  # another "process" holds the index
    holder.ensure(collection_spec(dense_encoder))
    spans = InMemorySpanExporter()
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder, span_exporter=spans)
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        assert "one process at a time" in ready.json()["error"]["message"]
        down = client.post("/v1/search", json={"query": "anything"})
        assert down.status_code == 503 and down.json()["error"]["code"] == "index_unavailable"
        assert down.json()["error"]["request_id"] == down.headers["X-Request-ID"]
        assert client.get("/healthz").status_code == 200  # the process is up all the same
        holder.close()
        app.state.services.retry_s = 0.0
        up = client.post("/v1/search", json={"query": "anything"})
        assert up.status_code == 200 and up.json()["hits"] == []
        assert client.get("/readyz").json()["status"] == "ready"
    finished = spans.get_finished_spans()
    assert {"POST /v1/search", "GET /readyz", "citewise.search.encode", "citewise.search.retrieve"} <= {
        s.name for s in finished
    }
    ok = next(s for s in finished if s.name == "POST /v1/search" and (s.attributes or {})["http.status_code"] == 200)
    encode = next(s for s in finished if s.name == "citewise.search.encode")
    assert encode.parent is not None and encode.parent.span_id == ok.context.span_id
