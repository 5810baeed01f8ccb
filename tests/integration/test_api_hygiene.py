"""Server hygiene on the real app (embedded index, real MiniLM, real corpus files): /v1/ask capped, health checks
off the shared worker threads, body and filter limits, batched span export, and the job worker taking the
write lock DELETE takes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from api import create_app
from citewise import faults
from citewise.index import Filter, Match
from citewise.settings import Settings
from tests.api_support import SlowServer, corpus_file, upload, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_LLM = "openai-like:slow-model"  # answers (a 503) only after 1.5 s: holds its /v1/ask slot that long
QUESTION = "Who was Anna Pavlovna Scherer?"
RACED = "fake-text.txt"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("hygiene")
    slow_llm = SlowServer(delay_s=1.5)
    settings = Settings(
        data_dir=root / "data",
        ingest={"workers": 0},
        retrieval={"rerank": False},
        generation={"base_url": slow_llm.url, "timeout_s": 5, "retries": 0},
        api={"llms": [SLOW_LLM], "max_concurrent_answers": 1, "max_body_kb": 4, "max_filter_values": 3},
    )
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    with TestClient(app, raise_server_exceptions=False) as client:
        job = wait_job(client, upload(client, ("book-war-and-peace-1p.txt", RACED)))
        assert job["state"] == "done", job
        docs = client.get("/v1/documents").json()["documents"]
        yield SimpleNamespace(
            client=client, app=app, slow_llm=slow_llm, doc_ids={d["source"]: d["doc_id"] for d in docs}
        )
    slow_llm.close()


def _envelope(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"] == response.headers["X-Request-ID"]
    return str(error["message"])


def _slow_ask_in_background(api: SimpleNamespace) -> tuple[threading.Thread, list[Any]]:
    """A /v1/ask held by the slow LLM; returns once the LLM has the request (the slot and a thread are taken)."""
    answered: list[Any] = []
    hits = api.slow_llm.hits

    def ask() -> None:
        answered.append(api.client.post("/v1/ask", json={"question": QUESTION, "llm": SLOW_LLM}))

    thread = threading.Thread(target=ask)
    thread.start()
    deadline = time.monotonic() + 180  # a wait, not a timing: a loaded CI machine may take long to retrieve
    while api.slow_llm.hits == hits and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.slow_llm.hits > hits, "the slow LLM never got the question"
    return thread, answered


def test_asks_past_the_cap_get_429_with_retry_after(api: SimpleNamespace) -> None:
    thread, answered = _slow_ask_in_background(api)
    busy = api.client.post("/v1/ask", json={"question": QUESTION})
    message = _envelope(busy, 429, "too_many_requests")
    assert busy.headers["Retry-After"] == "5" and "CITEWISE_API__MAX_CONCURRENT_ANSWERS" in message
    thread.join()
    assert answered[0].status_code in (200, 502)  # the slow LLM's 503 (an extractive fallback or a 502)
    again = api.client.post("/v1/ask", json={"question": QUESTION})  # the slot was given back
    assert again.status_code == 200, again.text
    streamed = api.client.post("/v1/ask", json={"question": QUESTION, "stream": True})
    assert streamed.status_code == 200 and "event: done" in streamed.text
    assert api.client.post("/v1/ask", json={"question": QUESTION}).status_code == 200  # the stream gave it back


def _set_worker_threads(client: TestClient, n: int) -> None:
    def set_tokens() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = n

    client.portal.call(set_tokens)  # type: ignore[union-attr]


def test_health_checks_answer_while_every_worker_thread_is_busy(api: SimpleNamespace) -> None:
    _set_worker_threads(api.client, 1)
    try:
        thread, _ = _slow_ask_in_background(api)  # holds the only worker thread for ~1.5 s
        started = time.monotonic()
        assert api.client.get("/healthz").json() == {"status": "ok"}
        assert api.client.get("/readyz").json()["status"] == "ready"
        assert time.monotonic() - started < 1.0  # they did not wait for the answer's thread
        thread.join()
    finally:
        _set_worker_threads(api.client, 40)


def test_json_bodies_past_the_limit_are_413(api: SimpleNamespace) -> None:
    big = {"query": "war", "filters": {"source": ["x" * 1000] * 5}}  # 5 kB > CITEWISE_API__MAX_BODY_KB=4
    message = _envelope(api.client.post("/v1/search", json=big), 413, "payload_too_large")
    assert "CITEWISE_API__MAX_BODY_KB" in message

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"query": "'
        yield b"w" * 5000
        yield b'"}'

    headers = {"content-type": "application/json"}
    _envelope(api.client.post("/v1/search", content=chunks(), headers=headers), 413, "payload_too_large")
    assert api.client.post("/v1/search", json={"query": "war"}).status_code == 200


@pytest.mark.parametrize("route", ["/v1/search", "/v1/ask"])
def test_filters_past_the_limit_are_422(api: SimpleNamespace, route: str) -> None:
    key = "query" if route == "/v1/search" else "question"
    four = {key: QUESTION, "filters": {"file_type": ["txt", "md"], "tag": {"a": "1", "b": "2"}}}
    message = _envelope(api.client.post(route, json=four), 422, "invalid_request")
    assert "4 values" in message and "CITEWISE_API__MAX_FILTER_VALUES" in message
    three = {key: QUESTION, "filters": {"file_type": ["txt", "md"], "tag": {"a": "1"}}}
    assert api.client.post(route, json=three).status_code == 200


def test_a_delete_racing_an_ingest_leaves_no_chunks_without_a_record(
    api: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc_id = api.doc_ids[f"upload:{RACED}"]
    paused, resume = threading.Event(), threading.Event()
    real_hit = faults.hit

    def pause_worker(name: str) -> None:  # the job worker stops after its pending record, before its points
        if name == "upsert" and threading.current_thread().name == "citewise-ingest-jobs" and not paused.is_set():
            paused.set()
            resume.wait(30)
        real_hit(name)

    monkeypatch.setattr(faults, "hit", pause_worker)
    changed = corpus_file(RACED).read_bytes() + b"\nA line added so that the document is written again.\n"
    response = api.client.post("/v1/ingest", files=[("files", (RACED, changed))])
    assert response.status_code == 202, response.text
    assert paused.wait(60), "the job never reached its first upsert"
    deleted: list[Any] = []
    deleter = threading.Thread(target=lambda: deleted.append(api.client.delete(f"/v1/documents/{doc_id}")))
    deleter.start()
    time.sleep(0.5)  # without the lock, the delete is done by now, in the middle of the batch
    resume.set()
    deleter.join(60)
    assert wait_job(api.client, response.json()["job_id"])["state"] == "done"
    assert deleted[0].status_code == 200, deleted[0].text
    services = api.app.state.services
    chunks = services.index.count(Filter(must=(Match("doc_id", doc_id),)))
    assert (services.docstore.get(doc_id), chunks) == (None, 0)


class SlowExporter(SpanExporter):
    """Takes 0.5 s per export (a far collector); keeps what it was given."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        time.sleep(0.5)
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_spans_are_exported_in_the_background_and_flushed_at_shutdown(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    exporter = SlowExporter()
    settings = Settings(data_dir=tmp_path / "data", retrieval={"rerank": False})
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder, span_exporter=exporter)
    with TestClient(app) as client:
        started = time.monotonic()
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        assert time.monotonic() - started < 1.0  # a synchronous export took 0.5 s inside each request
    assert [s.name for s in exporter.spans].count("GET /healthz") == 3
