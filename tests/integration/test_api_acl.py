"""ACL groups end to end: documents ingested with ``acl`` are read only by keys in one of their groups.

Real files from the shared corpus, the real ingest pipeline, embedded Qdrant and MiniLM; the API with a keys file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.errors import ConfigError
from citewise.settings import Settings
from tests.api_support import corpus_file, wait_job
from tests.ingest_support import build

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYS = {
    "acme-reader-no-groups-0001": {"tenant": "acme", "role": "reader"},
    "acme-reader-hr-group-00001": {"tenant": "acme", "role": "reader", "groups": ["hr"]},
    "acme-reader-eng-group-0001": {"tenant": "acme", "role": "reader", "groups": ["eng", "ops"]},
    "acme-admin-key-00000000001": {"tenant": "acme", "role": "admin"},
    "acme-writer-hr-group-00001": {"tenant": "acme", "role": "writer", "groups": ["hr"]},
}
PLAIN, HR, ENG, ADMIN, HR_WRITER = ({"Authorization": f"Bearer {k}"} for k in KEYS)
RESTRICTED, OPEN = "book-war-and-peace-1p.txt", "fake-text.txt"
QUESTION = "Who was Anna Pavlovna Scherer?"
BOTH = "Anna Pavlovna Scherer, and are dogs the best?"  # terms of both documents, so BM25 finds each


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("acl")
    keys = root / "keys.json"
    keys.write_text(json.dumps(KEYS))
    settings = Settings(data_dir=root / "data", api_keys_file=keys, ingest={"workers": 0}, retrieval={"rerank": False})
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    restricted = pipeline.run([corpus_file(RESTRICTED)], tenant="acme", acl=["hr", "legal"])
    pipeline.run([corpus_file(OPEN)], tenant="acme")
    index.close()
    store.close()
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        yield SimpleNamespace(client=client, restricted=restricted.doc_ids[0])


def _search_sources(client: TestClient, headers: dict[str, str], **body: Any) -> set[str]:
    response = client.post("/v1/search", json={"query": BOTH, "k": 50, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return {h["source"].rsplit("/", 1)[-1] for h in response.json()["hits"]}


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_search_shows_restricted_chunks_only_to_their_groups(api: SimpleNamespace, mode: str) -> None:
    assert _search_sources(api.client, HR, mode=mode) == {RESTRICTED, OPEN}
    assert _search_sources(api.client, ADMIN, mode=mode) == {RESTRICTED, OPEN}
    assert _search_sources(api.client, PLAIN, mode=mode) == {OPEN}
    assert _search_sources(api.client, ENG, mode=mode) == {OPEN}
    # asking for the restricted document by id does not get around the ACL
    assert _search_sources(api.client, ENG, mode=mode, filters={"doc_id": api.restricted}) == set()


def test_documents_and_answers_respect_the_acl(api: SimpleNamespace) -> None:
    client, doc = api.client, api.restricted
    for headers, total in ((HR, 2), (ADMIN, 2), (PLAIN, 1), (ENG, 1)):
        listed = client.get("/v1/documents", headers=headers).json()
        assert listed["total"] == total == len(listed["documents"])
    assert client.get(f"/v1/documents/{doc}", headers=HR).status_code == 200
    assert client.get(f"/v1/documents/{doc}?text=true", headers=PLAIN).status_code == 404
    allowed = client.post("/v1/ask", json={"question": QUESTION}, headers=HR).json()
    assert any(c["doc_id"] == doc for c in allowed["citations"])
    denied = client.post("/v1/ask", json={"question": QUESTION}, headers=ENG).json()
    assert all(c["doc_id"] != doc for c in denied["citations"])
    assert "Scherer" not in denied["answer"] and all("Scherer" not in c["quote"] for c in denied["citations"])


def test_uploads_can_carry_an_acl(api: SimpleNamespace) -> None:
    client, name = api.client, "fake-html.html"
    files = [("files", (name, corpus_file(name).read_bytes()))]
    bad = client.post("/v1/ingest", files=files, data={"acl": ["hr", "no spaces!"]}, headers=HR_WRITER)
    assert bad.status_code == 422 and "'no spaces!' is invalid" in bad.json()["error"]["message"]
    created = client.post("/v1/ingest", files=files, data={"acl": ["hr"]}, headers=HR_WRITER)
    assert created.status_code == 202, created.text
    assert wait_job(client, created.json()["job_id"], HR_WRITER)["state"] == "done"

    def sources(headers: dict[str, str]) -> set[str]:
        return {d["source"] for d in client.get("/v1/documents", headers=headers).json()["documents"]}

    assert f"upload:{name}" in sources(HR) and f"upload:{name}" not in sources(ENG)


@pytest.mark.parametrize("groups", ["hr", ["hr", 3], ["bad group!"]])
def test_bad_groups_in_the_keys_file_stop_the_app(tmp_path: Any, groups: Any) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"acme-reader-key-0000000001": {"tenant": "acme", "role": "reader", "groups": groups}}))
    with pytest.raises(ConfigError, match="groups must be a list of names"):
        create_app(Settings(data_dir=tmp_path / "data", api_keys_file=keys))
