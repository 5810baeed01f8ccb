"""Issue 14, finding 3: a writer can never change, delete, prune or learn of a document it cannot read.

Real uploads through the API (embedded Qdrant, MiniLM), keys of different ACL groups in one tenant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.docstore import DocStore
from citewise.settings import Settings
from ingest.discovery import doc_id_for
from tests.api_support import corpus_file, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYS = {
    "acme-writer-hr-group-00001": {"tenant": "acme", "role": "writer", "groups": ["hr"]},
    "acme-writer-no-groups-0001": {"tenant": "acme", "role": "writer"},
    "acme-reader-hr-group-00001": {"tenant": "acme", "role": "reader", "groups": ["hr"]},
    "acme-admin-key-00000000001": {"tenant": "acme", "role": "admin"},
}
HR_WRITER, PLAIN_WRITER, HR_READER, ADMIN = ({"Authorization": f"Bearer {k}"} for k in KEYS)
SECRET, OTHER = "fake-text.txt", "book-war-and-peace-1p.txt"  # the HR file and the intruder's content
NAME = "salaries.txt"


def _post(client: TestClient, content: str, headers: dict[str, str], acl: list[str] | None = None) -> Any:
    files = [("files", (NAME, corpus_file(content).read_bytes()))]
    return client.post("/v1/ingest", files=files, data={"acl": acl} if acl else None, headers=headers)


def _upload(client: TestClient, content: str, headers: dict[str, str], acl: list[str] | None = None) -> dict[str, Any]:
    response = _post(client, content, headers, acl)
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["job_id"], headers)
    assert job["state"] == "done", job
    return job


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("aclw")
    keys = root / "keys.json"
    keys.write_text(json.dumps(KEYS))
    settings = Settings(data_dir=root / "data", api_keys_file=keys, ingest={"workers": 0}, retrieval={"rerank": False})
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        hr_job = _upload(client, SECRET, HR_WRITER, ["hr"])
        secret_id = doc_id_for(f"upload:{NAME}", "acme", ["hr"])
        yield SimpleNamespace(client=client, settings=settings, hr_job=hr_job, secret=secret_id)


def _docs(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {d["doc_id"]: d for d in client.get("/v1/documents", headers=headers).json()["documents"]}


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    return dict(body["error"])


def test_a_writer_cannot_overwrite_or_learn_of_a_document_it_cannot_read(api: SimpleNamespace) -> None:
    client = api.client
    assert api.hr_job["result"]["files"]["ingested"] == 1
    before = client.get(f"/v1/documents/{api.secret}?text=true", headers=HR_READER).json()
    # the writer without groups uploads a file of the same name: a new document, nothing replaced, nothing told
    job = _upload(client, OTHER, PLAIN_WRITER)
    assert job["result"]["files"] == {"ingested": 1, "changed": 0, "unchanged": 0, "failed": 0}
    assert job["result"]["chunks_removed"] == 0
    after = client.get(f"/v1/documents/{api.secret}?text=true", headers=HR_READER).json()
    assert after["text"] == before["text"] and after["chunks"] == before["chunks"]
    store = DocStore(api.settings.data_dir, "citewise")
    try:
        assert store.require(api.secret).acl == ("hr",)
    finally:
        store.close()
    assert api.secret not in _docs(client, PLAIN_WRITER)
    assert len([d for d in _docs(client, HR_READER).values() if d["source"] == f"upload:{NAME}"]) == 2
    # uploading it again: its own copy is unchanged; the HR document is still not counted
    again = _upload(client, OTHER, PLAIN_WRITER)
    assert again["result"]["files"] == {"ingested": 0, "changed": 0, "unchanged": 1, "failed": 0}
    # HR search still finds the HR text
    hits = client.post("/v1/search", json={"query": "dogs", "k": 20}, headers=HR_READER).json()["hits"]
    assert any(h["doc_id"] == api.secret for h in hits)


def test_a_writer_may_only_give_groups_it_holds(api: SimpleNamespace) -> None:
    error = _error(_post(api.client, OTHER, PLAIN_WRITER, ["hr"]), 403)
    assert error["code"] == "forbidden" and "only give ACL groups it holds" in error["message"]
    error = _error(_post(api.client, OTHER, HR_WRITER, ["hr", "legal"]), 403)
    assert "legal" in error["message"]


def test_delete_and_probe_of_an_unreadable_document_look_like_a_missing_one(api: SimpleNamespace) -> None:
    client = api.client
    missing = doc_id_for("upload:nothing-here.txt", "acme", ["hr"])
    for path in (f"/v1/documents/{api.secret}", f"/v1/documents/{missing}"):
        got = _error(client.get(path, headers=PLAIN_WRITER), 404)
        deleted = _error(client.delete(path, headers=PLAIN_WRITER), 404)
        doc_id = path.rsplit("/", 1)[-1]
        assert got["message"].replace(doc_id, "X") == deleted["message"].replace(doc_id, "X")
        assert got["message"] == f"no document {doc_id!r}; see GET /v1/documents"
    assert client.get(f"/v1/documents/{api.secret}", headers=HR_READER).status_code == 200  # still there


def test_a_writer_holding_the_group_replaces_the_readable_versions(api: SimpleNamespace) -> None:
    client = api.client
    name = "replace-me.txt"
    files = [("files", (name, corpus_file(SECRET).read_bytes()))]
    first = client.post("/v1/ingest", files=files, headers=PLAIN_WRITER)
    wait_job(client, first.json()["job_id"], PLAIN_WRITER)
    public_id = doc_id_for(f"upload:{name}", "acme")
    # the HR writer can read the public version: uploading it with acl=hr replaces it (counted as changed)
    second = client.post("/v1/ingest", files=files, data={"acl": ["hr"]}, headers=HR_WRITER)
    job = wait_job(client, second.json()["job_id"], HR_WRITER)
    assert job["result"]["files"]["changed"] == 1 and job["result"]["chunks_removed"] > 0
    assert client.get(f"/v1/documents/{public_id}", headers=ADMIN).status_code == 404
    assert doc_id_for(f"upload:{name}", "acme", ["hr"]) in _docs(client, HR_READER)


def test_jobs_are_visible_only_to_their_submitter_and_admins(api: SimpleNamespace) -> None:
    client, job_id = api.client, api.hr_job["job_id"]
    assert client.get(f"/v1/jobs/{job_id}", headers=HR_WRITER).status_code == 200
    assert client.get(f"/v1/jobs/{job_id}", headers=ADMIN).status_code == 200
    hidden = _error(client.get(f"/v1/jobs/{job_id}", headers=PLAIN_WRITER), 404)
    unknown = _error(client.get(f"/v1/jobs/{'0' * 32}", headers=PLAIN_WRITER), 404)
    assert hidden["message"].replace(job_id, "X") == unknown["message"].replace("0" * 32, "X")
    _error(client.delete(f"/v1/jobs/{job_id}", headers=PLAIN_WRITER), 404)  # nor cancel it
    _error(client.get(f"/v1/jobs/{job_id}", headers=HR_READER), 404)


def test_prune_as_a_group_member_leaves_unreadable_documents(
    tmp_path: Any, dense_encoder: Any, bm25_encoder: Any
) -> None:
    """The pipeline's prune (CLI and API share it) only removes documents the caller may read."""
    from tests.ingest_support import build

    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_bytes(corpus_file(SECRET).read_bytes())
    settings = Settings(data_dir=tmp_path / "data", ingest={"workers": 0})
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    try:
        pipeline.run([folder], tenant="acme", acl=["hr"])
        (folder / "a.txt").unlink()
        summary = pipeline.run([folder], tenant="acme", prune=True, reader_groups=["eng"])
        assert summary.files.removed == 0 and store.count("acme") == 3  # 2 hr + the new open b.txt
        summary = pipeline.run([folder], tenant="acme", prune=True)  # an admin (the CLI): all readable
        assert summary.files.removed == 1
        labels = {r.label for r in store.iter_all("acme")}
        assert labels == {"b.txt"}
    finally:
        pipeline.close()
        index.close()
        store.close()
