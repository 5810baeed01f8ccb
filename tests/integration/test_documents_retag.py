"""Changing a document's tags after ingest: ``PATCH /v1/documents/{id}`` and ``citewise documents tag``.

A real text file from the shared corpus uploaded through the API (embedded Qdrant, MiniLM, BM25); tag filters in
search see the new tags at once, the old ones are gone from every chunk, and nobody outside the tenant or below
the writer role changes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.docstore import DocStore
from citewise.index import Filter, Match, open_index
from citewise.settings import Settings
from tests.api_support import auth, corpus_file, wait_job, write_keys
from tests.cli_subprocess import cli_env, run_cli

pytestmark = [pytest.mark.integration]

WRITER, READER, OTHER = auth("acme", "writer"), auth("acme", "reader"), auth("beta", "writer")
QUESTION = "dogs"


def _hits(client: TestClient, tags: dict[str, str]) -> list[str]:
    body = {"query": QUESTION, "k": 5, "filters": {"tag": tags}}
    found = client.post("/v1/search", json=body, headers=WRITER)
    assert found.status_code == 200, found.text
    return [h["doc_id"] for h in found.json()["hits"]]


def _chunk_tags(settings: Settings, doc_id: str) -> list[dict[str, Any]]:
    index = open_index(settings)
    try:
        records, _ = index.scroll(Filter(must=(Match("doc_id", doc_id),)), limit=100)
        return [{"tags": r.payload["tags"], "tag_pairs": r.payload["tag_pairs"]} for r in records]
    finally:
        index.close()


def test_retag_through_the_api_then_the_cli(tmp_path: Path, dense_encoder: Any, bm25_encoder: Any) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        api_keys_file=write_keys(tmp_path),
        ingest={"workers": 0},
        retrieval={"rerank": False},
        encoder={"backend": "torch"},
    )
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        text = corpus_file("fake-text.txt").read_bytes()
        created = client.post(
            "/v1/ingest", files=[("files", ("dogs.txt", text))], data={"tags": ["team=research"]}, headers=WRITER
        )
        assert wait_job(client, created.json()["job_id"], WRITER)["state"] == "done"
        doc = client.get("/v1/documents", headers=WRITER).json()["documents"][0]["doc_id"]
        assert set(_hits(client, {"team": "research"})) == {doc}

        changed = client.patch(f"/v1/documents/{doc}", json={"tags": ["team=legal", "year=2024"]}, headers=WRITER)
        assert changed.status_code == 200, changed.text
        assert changed.json()["tags"] == {"team": "legal", "year": "2024"} and changed.json()["chunks"] >= 1
        assert _hits(client, {"team": "research"}) == []
        assert set(_hits(client, {"team": "legal", "year": "2024"})) == {doc}
        assert client.get(f"/v1/documents/{doc}", headers=WRITER).json()["tags"] == {"team": "legal", "year": "2024"}

        patch = f"/v1/documents/{doc}"
        assert client.patch(patch, json={"tags": ["team=x"]}, headers=READER).status_code == 403
        assert client.patch(patch, json={"tags": ["team=x"]}, headers=OTHER).status_code == 404  # not theirs
        bad = client.patch(patch, json={"tags": ["team"]}, headers=WRITER)
        assert bad.status_code == 422 and "key=value" in bad.json()["error"]["message"]
        assert client.patch(patch, json={"labels": ["a=b"]}, headers=WRITER).status_code == 422
        assert client.patch("/v1/documents/nope", json={"tags": []}, headers=WRITER).status_code == 404
        assert set(_hits(client, {"team": "legal"})) == {doc}  # refused requests changed nothing

    env = cli_env(settings.data_dir, CITEWISE_API_KEYS_FILE=str(settings.api_keys_file))
    usage = run_cli(tmp_path, "documents", "tag", doc, env=env)
    assert usage.code == 2 and "--clear" in usage.stderr
    done = run_cli(tmp_path, "documents", "tag", doc, "--tag", "team=ops", env=env)
    assert done.code == 0 and "team=ops" in done.stdout, done.stderr
    chunks = _chunk_tags(settings, doc)
    assert chunks and all(c == {"tags": {"team": "ops"}, "tag_pairs": ["team=ops"]} for c in chunks)
    cleared = run_cli(tmp_path, "documents", "tag", doc, "--clear", env=env)
    assert cleared.code == 0 and "no tags" in cleared.stdout
    assert all(c == {"tags": {}, "tag_pairs": []} for c in _chunk_tags(settings, doc))
    store = DocStore(settings.data_dir, settings.qdrant.collection)
    assert store.require(doc).tags == {}
    store.close()
    unknown = run_cli(tmp_path, "documents", "tag", "no-such-doc", "--tag", "a=b", env=env)
    assert unknown.code == 1 and "documents list" in unknown.stderr
