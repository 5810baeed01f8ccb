"""The HTTP API on the real embedded index and real MiniLM, with real files uploaded by two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.settings import Settings
from retrieval import access_filter, hit_json, result_json
from tests.api_support import SlowServer, auth, parse_sse, upload, wait_job, write_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

A_FILES = ("book-war-and-peace-1p.txt", "README.md")
B_FILES = ("fake-text.txt",)
SLOW_LLM = "openai-like:slow-model"  # an OpenAI-compatible server that never answers in time
QUESTION = "Who was Anna Pavlovna Scherer?"
BAD_FILE = "CantinaBand3.wav"  # no loader for audio: recorded as a per-file failure
A_WRITER, A_READER, A_ADMIN = auth("acme", "writer"), auth("acme", "reader"), auth("acme", "admin")
B_WRITER, B_ADMIN = auth("beta", "writer"), auth("beta", "admin")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("api")
    slow_llm = SlowServer()
    settings = Settings(
        data_dir=root / "data",
        api_keys_file=write_keys(root),
        ingest={"workers": 0},
        retrieval={"rerank": False},
        generation={"base_url": slow_llm.url, "timeout_s": 0.5, "retries": 0},
        api={"max_upload_mb": 1, "llms": [SLOW_LLM]},
    )
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    with TestClient(app, raise_server_exceptions=False) as client:
        job_a = wait_job(client, upload(client, (*A_FILES, BAD_FILE), A_WRITER), A_WRITER)
        job_b = wait_job(client, upload(client, B_FILES, B_WRITER), B_WRITER)
        docs = client.get("/v1/documents", headers=A_READER).json()["documents"]
        yield SimpleNamespace(
            client=client, app=app, job_a=job_a, job_b=job_b, doc_ids={d["source"]: d["doc_id"] for d in docs}
        )
    slow_llm.close()


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code
    return dict(body["error"])


def test_upload_job_finishes_with_progress_and_per_file_failures(api: SimpleNamespace) -> None:
    job = api.job_a
    assert job["state"] == "done"
    assert job["files"] == sorted([*A_FILES, BAD_FILE])
    assert job["progress"]["files_total"] == 3 and job["progress"]["files_done"] == 3
    assert job["progress"]["fraction"] == 1.0 and job["progress"]["chunks_written"] > 0
    assert [f["file"] for f in job["failures"]] == [BAD_FILE] and job["failures"][0]["reason"]
    assert job["result"]["files"]["ingested"] == 2 and job["result"]["chunks_added"] > 0
    assert set(api.doc_ids) == {f"upload:{name}" for name in A_FILES}


def test_search_returns_the_cli_json_for_the_callers_tenant(api: SimpleNamespace) -> None:
    body = {"query": "Who was Anna Pavlovna Scherer?", "k": 3}
    response = api.client.post("/v1/search", json=body, headers=A_READER)
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == {"hits", "timings_ms", "rerank_status", "fusion", "query_lang", "signals", "signals_reason"}
    assert result["hits"][0]["source"] == "upload:book-war-and-peace-1p.txt"
    assert "maid of honor" in " ".join(h["text"] for h in result["hits"])
    retriever = api.app.state.services.retriever
    direct = result_json(retriever.search(body["query"], k=3, filters=access_filter("acme"), rerank=False))
    assert [h["chunk_id"] for h in result["hits"]] == [h["chunk_id"] for h in direct["hits"]]
    assert set(result["hits"][0]) == set(hit_json(retriever.search("Anna", k=1).hits[0]))
    assert {"encode", "retrieve", "total"} <= set(result["timings_ms"])
    # a language MiniLM does not read: BM25 only, as `citewise search` does (the encoder's declared languages)
    zh = api.client.post("/v1/search", json={"query": "安娜·帕夫洛夫娜是谁？", "k": 3}, headers=A_READER).json()
    assert zh["query_lang"] == "zh" and zh["signals"] == ["sparse"] and "'zh'" in zh["signals_reason"], zh


def test_filters_narrow_the_hits(api: SimpleNamespace) -> None:
    readme = api.doc_ids["upload:README.md"]
    response = api.client.post(
        "/v1/search", json={"query": "Prince Vasili", "k": 5, "filters": {"doc_id": readme}}, headers=A_READER
    )
    assert response.status_code == 200
    assert response.json()["hits"] and {h["doc_id"] for h in response.json()["hits"]} == {readme}
    prefix = {"source": "upload:book", "file_type": ["txt", "md"]}
    response = api.client.post("/v1/search", json={"query": "parse", "filters": prefix}, headers=A_READER)
    assert {h["source"] for h in response.json()["hits"]} == {"upload:book-war-and-peace-1p.txt"}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "empty"),
        ({"query": "x" * 4001}, "query"),
        ({"query": "goal", "k": 0}, "k"),
        ({"query": "goal", "k": 101}, "k"),
        ({"query": "goal", "filters": {"colour": "red"}}, "unknown filter 'colour'"),
        ({"query": "goal", "filters": {"modified_after": "yesterday"}}, "ISO date"),
        ({"query": "goal", "mode": "fuzzy"}, "mode"),
        ({"query": "goal", "top": 3}, "top"),
        ({"k": 3}, "query"),
    ],
)
def test_invalid_search_input_is_422_with_a_reason(api: SimpleNamespace, body: dict[str, Any], needle: str) -> None:
    error = _error(api.client.post("/v1/search", json=body, headers=A_READER), 422, "invalid_request")
    assert needle in error["message"]


def test_every_response_carries_a_request_id(api: SimpleNamespace) -> None:
    mine = api.client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert mine.headers["X-Request-ID"] == "trace-123"
    fresh = api.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(fresh.headers["X-Request-ID"]) == 32
    _error(api.client.get("/v1/nothing-here", headers=A_READER), 404, "not_found")
    _error(
        api.client.post("/v1/search", content=b"{not json", headers={**A_READER, "Content-Type": "application/json"}),
        422,
    )


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("post", "/v1/search", {}, 401),
        ("post", "/v1/search", {"Authorization": "Bearer not-a-key-at-all-000"}, 401),
        ("post", "/v1/search", {"Authorization": "Basic abc"}, 401),
        ("get", "/v1/documents", {}, 401),
        ("post", "/v1/ingest", A_READER, 403),
        ("delete", "/v1/documents/abc", A_READER, 403),
        ("get", "/v1/feedback", A_WRITER, 403),
        ("get", "/metrics", A_WRITER, 403),
        ("get", "/metrics", {}, 401),
    ],
)
def test_auth_is_required_and_roles_are_enforced(
    api: SimpleNamespace, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    kwargs: dict[str, Any] = {"headers": headers}
    if path == "/v1/search":
        kwargs["json"] = {"query": "goal"}
    if path == "/v1/ingest":
        kwargs["files"] = [("files", ("a.txt", b"hello"))]
    response = api.client.request(method.upper(), path, **kwargs)
    _error(response, status, "unauthorized" if status == 401 else "forbidden")
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_tenant_b_never_sees_tenant_a(api: SimpleNamespace) -> None:
    client, a_doc = api.client, api.doc_ids["upload:book-war-and-peace-1p.txt"]
    # search: A's best match is B's only document, never A's chunks (also not through a doc_id filter)
    for body in (
        {"query": "Who was Anna Pavlovna Scherer?", "k": 50},
        {"query": "Anna Pavlovna", "filters": {"doc_id": a_doc}},
        {"query": "Prince Vasili Kuragin", "filters": {"source": "upload:"}, "mode": "sparse"},
    ):
        hits = client.post("/v1/search", json=body, headers=B_WRITER).json()["hits"]
        assert all(h["source"] == "upload:fake-text.txt" for h in hits), body
    # documents: list, get, text, delete
    listed = client.get("/v1/documents", headers=B_WRITER).json()
    assert listed["total"] == 1 and [d["source"] for d in listed["documents"]] == ["upload:fake-text.txt"]
    _error(client.get(f"/v1/documents/{a_doc}", headers=B_WRITER), 404, "not_found")
    _error(client.get(f"/v1/documents/{a_doc}?text=true", headers=B_ADMIN), 404, "not_found")
    _error(client.delete(f"/v1/documents/{a_doc}", headers=B_WRITER), 404, "not_found")
    assert client.get(f"/v1/documents/{a_doc}", headers=A_READER).status_code == 200
    # jobs
    _error(client.get(f"/v1/jobs/{api.job_a['job_id']}", headers=B_WRITER), 404, "not_found")
    # feedback export of B's admin holds nothing of A
    assert client.get("/v1/feedback", headers=B_ADMIN).json()["total"] == 0
    # the same file name uploaded by B is B's own document, not A's
    job = wait_job(client, upload(client, ["book-war-and-peace-1p.txt"], B_WRITER), B_WRITER)
    assert job["state"] == "done"
    b_docs = {d["source"]: d["doc_id"] for d in client.get("/v1/documents", headers=B_WRITER).json()["documents"]}
    assert b_docs["upload:book-war-and-peace-1p.txt"] != a_doc
    client.delete(f"/v1/documents/{b_docs['upload:book-war-and-peace-1p.txt']}", headers=B_WRITER)
    assert client.get(f"/v1/documents/{a_doc}", headers=A_READER).json()["chunks"] > 0


def test_documents_are_paginated_and_carry_their_text(api: SimpleNamespace) -> None:
    client = api.client
    first = client.get("/v1/documents?limit=1", headers=A_READER).json()
    second = client.get("/v1/documents?limit=1&offset=1", headers=A_READER).json()
    assert first["total"] == second["total"] == 2
    assert first["documents"][0]["doc_id"] != second["documents"][0]["doc_id"]
    only = client.get("/v1/documents?source_prefix=upload:book", headers=A_READER).json()
    assert [d["source"] for d in only["documents"]] == ["upload:book-war-and-peace-1p.txt"]
    doc_id = api.doc_ids["upload:book-war-and-peace-1p.txt"]
    doc = client.get(f"/v1/documents/{doc_id}?text=true", headers=A_READER).json()
    hit = client.post("/v1/search", json={"query": "Anna Pavlovna Scherer", "k": 1}, headers=A_READER).json()["hits"][0]
    assert hit["doc_id"] == doc_id
    assert doc["text"][hit["char_start"] : hit["char_end"]] == hit["text"]
    assert client.get(f"/v1/documents/{doc_id}", headers=A_READER).json()["text"] is None
    _error(client.get("/v1/documents?limit=0", headers=A_READER), 422, "invalid_request")
    _error(client.get("/v1/documents/not a valid id", headers=A_READER), 422)


def test_upload_past_the_limit_is_413(api: SimpleNamespace) -> None:
    big = [("files", ("big.txt", b"word " * 300_000))]  # 1.5 MB > 1 MB
    error = _error(api.client.post("/v1/ingest", files=big, headers=A_WRITER), 413, "payload_too_large")
    assert "MAX_UPLOAD_MB" in error["message"]
    # without a Content-Length (chunked), the bytes received are counted
    part = b"--xyz\r\nContent-Disposition: form-data; name=files; filename=big.txt\r\n\r\n"
    chunks = iter([part, *([b"word " * 20_000] * 15), b"\r\n--xyz--\r\n"])
    headers = {**A_WRITER, "Content-Type": "multipart/form-data; boundary=xyz"}
    _error(api.client.post("/v1/ingest", content=chunks, headers=headers), 413, "payload_too_large")


def test_unexpected_errors_are_a_500_envelope_without_details(
    api: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api.app.state.services.retriever, "search", broken)
    response = api.client.post("/v1/search", json={"query": "goal"}, headers=A_READER)
    error = _error(response, 500, "internal_error")
    assert "secret" not in response.text and error["request_id"] in error["message"]


def test_health_ready_and_metrics(api: SimpleNamespace) -> None:
    client = api.client
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["index"]["points"] > 0
    assert ready["models"]["reranker"]["state"] in ("ready", "unavailable", "disabled")  # and why, when not ready
    assert ready["models"]["reranker"]["state"] == "ready" or ready["models"]["reranker"]["reason"]
    text = client.get("/metrics", headers=A_ADMIN).text
    assert 'citewise_http_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert 'citewise_http_requests_total{method="POST",route="/v1/search",status="422"}' in text
    assert 'citewise_stage_duration_seconds_count{op="search",stage="encode"}' in text
    assert 'citewise_errors_total{code="invalid_request"}' in text
    assert 'citewise_ingest_jobs_total{state="done"}' in text


def _check_citations(api: SimpleNamespace, answer: dict[str, Any], headers: dict[str, str]) -> None:
    for c in answer["citations"]:
        doc = api.client.get(f"/v1/documents/{c['doc_id']}?text=true", headers=headers).json()
        assert doc["text"][c["char_start"] : c["char_end"]] == c["quote"] and c["source"] == doc["source"]


def test_ask_answers_with_checked_citations_and_takes_feedback(api: SimpleNamespace) -> None:
    client = api.client
    response = client.post("/v1/ask", json={"question": QUESTION}, headers=A_READER)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert not answer["abstained"] and answer["answer_id"] and answer["citations"]
    assert {c["source"] for c in answer["citations"]} == {"upload:book-war-and-peace-1p.txt"}
    _check_citations(api, answer, A_READER)
    created = client.post(
        "/v1/feedback", json={"answer_id": answer["answer_id"], "rating": "up", "comment": "right"}, headers=A_READER
    )
    assert created.status_code == 201 and created.json()["feedback_id"] > 0
    _error(client.post("/v1/feedback", json={"answer_id": answer["answer_id"], "rating": "up"}, headers=B_WRITER), 404)
    _error(client.post("/v1/feedback", json={"answer_id": "nope", "rating": "up"}, headers=A_READER), 404)
    _error(client.post("/v1/feedback", json={"answer_id": answer["answer_id"], "rating": "meh"}, headers=A_READER), 422)
    exported = client.get("/v1/feedback", headers=A_ADMIN).json()
    mine = next(f for f in exported["feedback"] if f["answer_id"] == answer["answer_id"])
    assert mine["question"] == QUESTION and mine["answer"] == answer["answer"] and mine["comment"] == "right"
    assert client.get("/v1/feedback", headers=B_ADMIN).json()["total"] == 0
    assert 'citewise_feedback_total{rating="up"}' in client.get("/metrics", headers=A_ADMIN).text


def test_ask_streams_tokens_citations_and_the_final_answer(api: SimpleNamespace) -> None:
    body = {"question": QUESTION, "stream": True}
    with api.client.stream("POST", "/v1/ask", json=body, headers=A_READER) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["X-Request-ID"]
        events = parse_sse(response.iter_lines())
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "token" and kinds[-2:] == ["citations", "done"] and set(kinds) == {"token", "citations", "done"}
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    done = events[-1][1]
    assert streamed.strip() and done["answer_id"] and not done["abstained"]
    assert events[-2][1]["citations"] == done["citations"] and done["citations"]
    _check_citations(api, done, A_READER)
    feedback = {"answer_id": done["answer_id"], "rating": "down", "correction": "She was a maid of honor."}
    assert api.client.post("/v1/feedback", json=feedback, headers=A_READER).status_code == 201


def test_ask_only_uses_the_callers_tenant(api: SimpleNamespace) -> None:
    for stream in (False, True):
        body = {"question": QUESTION, "k": 10, "stream": stream}
        if stream:
            with api.client.stream("POST", "/v1/ask", json=body, headers=B_WRITER) as response:
                answer = parse_sse(response.iter_lines())[-1][1]
        else:
            answer = api.client.post("/v1/ask", json=body, headers=B_WRITER).json()
        assert all(c["source"] == "upload:fake-text.txt" for c in answer["citations"]), answer
        assert "Pavlovna" not in answer["answer"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"question": ""}, "question"),
        ({"question": "  "}, "empty"),
        ({"question": "Who?", "k": 51}, "k"),
        ({"question": "Who?", "llm": "ollama:llama3.2"}, "not offered"),
        ({"question": "Who?", "prompt": "nonexistent@9"}, "unknown prompt"),
        ({"question": "Who?", "filters": {"colour": "red"}}, "unknown filter"),
    ],
)
def test_invalid_ask_input_is_422(api: SimpleNamespace, body: dict[str, Any], needle: str) -> None:
    for stream in (False, True):
        response = api.client.post("/v1/ask", json={**body, "stream": stream}, headers=A_READER)
        assert needle in _error(response, 422, "invalid_request")["message"]


def test_llm_timeout_is_504_or_an_error_event(api: SimpleNamespace) -> None:
    body = {"question": QUESTION, "llm": SLOW_LLM}
    error = _error(api.client.post("/v1/ask", json=body, headers=A_READER), 504, "upstream_timeout")
    assert error["message"]
    with api.client.stream("POST", "/v1/ask", json={**body, "stream": True}, headers=A_READER) as response:
        assert response.status_code == 200
        events = parse_sse(response.iter_lines())
    kind, data = events[-1]
    assert kind == "error" and data["code"] == "upstream_timeout" and data["status"] == 504
    assert data["request_id"] == response.headers["X-Request-ID"]


def test_delete_removes_the_document_from_search(api: SimpleNamespace) -> None:
    client, doc_id = api.client, api.doc_ids["upload:README.md"]
    response = client.delete(f"/v1/documents/{doc_id}", headers=A_WRITER)
    assert response.status_code == 200 and response.json()["deleted_chunks"] > 0
    _error(client.get(f"/v1/documents/{doc_id}", headers=A_READER), 404)
    hits = client.post("/v1/search", json={"query": "sample docs 10-K filing", "k": 50}, headers=A_READER).json()[
        "hits"
    ]
    assert hits and doc_id not in {h["doc_id"] for h in hits}
