"""The response cache of POST /v1/ask on the real embedded index and real MiniLM, with a real corpus file:
a repeated question is a hit, a re-ingest that changes the cited document and a delete invalidate it."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.settings import Settings
from tests.api_support import auth, corpus_file, parse_sse, upload, wait_job, write_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOOK = "book-war-and-peace-1p.txt"
QUESTION = "Who was Anna Pavlovna Scherer?"
OLD, NEW = "maid of honor and favorite", "lady-in-waiting and confidante"
A_WRITER, A_READER, A_ADMIN = auth("acme", "writer"), auth("acme", "reader"), auth("acme", "admin")
B_WRITER = auth("beta", "writer")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("cache")
    settings = Settings(
        data_dir=root / "data",
        api_keys_file=write_keys(root),
        ingest={"workers": 0},
        retrieval={"rerank": False},
        answer_cache={"enabled": True, "max_entries": 16},
    )
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert wait_job(client, upload(client, (BOOK,), A_WRITER), A_WRITER)["state"] == "done"
        yield SimpleNamespace(client=client, app=app)


def _ask(api: SimpleNamespace, question: str = QUESTION, headers: dict[str, str] = A_READER) -> dict[str, Any]:
    response = api.client.post("/v1/ask", json={"question": question, "k": 3}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _metric(api: SimpleNamespace, result: str) -> float:
    for line in api.client.get("/metrics", headers=A_ADMIN).text.splitlines():
        if line.startswith(f'citewise_answer_cache_total{{result="{result}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_repeat_is_a_hit_and_a_changing_ingest_or_delete_invalidates(api: SimpleNamespace) -> None:
    first = _ask(api)
    assert first["cache"] == "miss" and "retrieve" in first["timings_ms"]
    assert OLD in " ".join(c["quote"] for c in first["citations"])  # the book is the cited document

    again = _ask(api, "  who was anna pavlovna   SCHERER ")  # normalized: case, spaces, trailing "?"
    assert again["cache"] == "hit"
    assert set(again["timings_ms"]) == {"cache_lookup", "total"} and again["timings_ms"]["total"] < 50
    assert again["answer"] == first["answer"] and again["citations"] == first["citations"]
    assert again["answer_id"] != first["answer_id"] and again["usage"]["cost_usd"] == 0
    feedback = {"answer_id": again["answer_id"], "rating": "up"}
    assert api.client.post("/v1/feedback", json=feedback, headers=A_READER).status_code == 201
    assert _metric(api, "hit") == 1 and _metric(api, "miss") == 1

    with api.client.stream(
        "POST", "/v1/ask", json={"question": QUESTION, "k": 3, "stream": True}, headers=A_READER
    ) as r:
        events = parse_sse(r.iter_lines())
    assert [e for e, _ in events] == ["token", "citations", "done"] and events[-1][1]["cache"] == "hit"

    assert _ask(api, headers=B_WRITER)["cache"] == "miss"  # another tenant never shares an entry
    assert _ask(api, QUESTION.replace("Scherer", "Scherer's salon"))["cache"] == "miss"

    changed = corpus_file(BOOK).read_text(encoding="utf-8").replace(OLD, NEW)
    files = [("files", (BOOK, changed.encode("utf-8")))]
    job = api.client.post("/v1/ingest", files=files, headers=A_WRITER).json()["job_id"]
    assert wait_job(api.client, job, A_WRITER)["state"] == "done"
    after = _ask(api)
    assert after["cache"] == "miss"  # the collection changed: computed again, from the new text
    quotes = " ".join(c["quote"] for c in after["citations"])
    assert NEW in quotes and OLD not in quotes
    assert _ask(api)["cache"] == "hit"

    doc_id = after["citations"][0]["doc_id"]
    assert api.client.delete(f"/v1/documents/{doc_id}", headers=A_WRITER).status_code == 200
    gone = _ask(api)
    assert gone["cache"] == "miss" and not gone["citations"]
