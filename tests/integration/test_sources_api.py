"""Sources over the API on a real app (embedded index, MiniLM): a watched folder picks up a new file, a change, a
rename and a delete within seconds; an S3 source on a local S3-compatible server syncs as a job; admin-only,
per-tenant, and bad inputs answer the error envelope with what to do."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.settings import Settings
from tests.api_support import auth, wait_job, write_keys
from tests.sources_support import put_files, s3_server, small_file

__all__ = ["s3_server"]
pytestmark = [pytest.mark.integration]
ADMIN, B_ADMIN, WRITER = auth("acme", "admin"), auth("beta", "admin"), auth("acme", "writer")
WITHIN_S = 15.0  # "within seconds", with room for a loaded CI machine


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any, s3_server: Any
) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("sources-api")
    watched = root / "watched"
    watched.mkdir()
    settings = Settings(
        data_dir=root / "data",
        api_keys_file=write_keys(root),
        ingest={"workers": 0},
        retrieval={"rerank": False},
        sources={
            "api_local_roots": [root],
            "tick_s": 0.2,
            "watch_debounce_ms": 200,
            "s3_endpoint_url": s3_server.url,
        },
    )
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield SimpleNamespace(client=client, root=root, watched=watched, s3=s3_server)


def _docs(client: Any) -> dict[str, str]:
    """label -> doc id of the tenant's documents."""
    body = client.get("/v1/documents", headers=ADMIN, params={"limit": 500}).json()
    return {d["source"]: d["doc_id"] for d in body["documents"]}


def _until(check: Callable[[], bool], what: str, timeout_s: float = WITHIN_S) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _error(response: Any, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    message = str(body["error"]["message"])
    for word in words:
        assert word in message, message
    return message


def test_watched_folder_follows_create_change_rename_delete(api: SimpleNamespace) -> None:
    client, folder = api.client, api.watched
    shutil.copy(small_file("fake-text.txt"), folder / "first.txt")
    added = client.post("/v1/sources", headers=ADMIN, json={"name": "watched", "uri": str(folder), "watch": True})
    assert added.status_code == 201, added.text
    assert added.json()["watch"] is True and added.json()["tenant"] == "acme"
    _until(lambda: "first.txt" in _docs(client), "the catch-up sync when the watch starts")

    shutil.copy(small_file("codeblock.md"), folder / "new.md")  # create
    _until(lambda: "new.md" in _docs(client), "a new file is ingested")

    (folder / "first.txt").write_text("The watched folder now says the budget meeting moved to Thursday.\n")
    doc_id = _docs(client)["first.txt"]

    def changed() -> bool:
        text = client.get(f"/v1/documents/{doc_id}", headers=ADMIN, params={"text": True}).json().get("text") or ""
        return "budget meeting moved to Thursday" in text

    _until(changed, "a changed file is re-ingested")

    (folder / "new.md").rename(folder / "renamed.md")  # rename: the old name goes, the new one comes
    _until(lambda: "renamed.md" in (d := _docs(client)) and "new.md" not in d, "a rename is carried through")

    (folder / "first.txt").unlink()  # delete
    _until(lambda: "first.txt" not in _docs(client), "a deleted file is pruned")

    listed = client.get("/v1/sources", headers=ADMIN).json()["sources"]
    assert [s["name"] for s in listed] == ["watched"]
    assert listed[0]["last_sync"] is not None and listed[0]["last_sync"]["error"] is None


def test_s3_source_sync_job_purge_and_tenancy(api: SimpleNamespace) -> None:
    client = api.client
    put_files(api.s3.fs, "api-bucket", "docs", ("fake-email.txt", "README.md"))
    added = client.post("/v1/sources", headers=ADMIN, json={"name": "bucket", "uri": "s3://api-bucket/docs"})
    assert added.status_code == 201, added.text
    queued = client.post("/v1/sources/bucket/sync", headers=ADMIN)
    assert queued.status_code == 202, queued.text
    job = wait_job(client, queued.json()["job_id"], ADMIN)
    assert job["state"] == "done" and job["result"]["files"]["ingested"] == 2, job
    assert {"s3://api-bucket/docs/fake-email.txt", "s3://api-bucket/docs/README.md"} <= set(_docs(client))

    # another tenant's admin sees no such source; a writer may not manage sources
    assert client.get("/v1/sources", headers=B_ADMIN).json() == {"sources": []}
    _error(client.get("/v1/sources/bucket", headers=B_ADMIN), 404, "no source named 'bucket'")
    _error(client.post("/v1/sources/bucket/sync", headers=B_ADMIN), 404)
    _error(client.get("/v1/sources", headers=WRITER), 403)

    removed = client.delete("/v1/sources/bucket", headers=ADMIN, params={"purge": True})
    assert removed.json() == {"source": "bucket", "documents_deleted": 2}
    assert not any(s.startswith("s3://api-bucket") for s in _docs(client))
    _error(client.get("/v1/sources/bucket", headers=ADMIN), 404, "citewise sources list")


def test_bad_inputs_say_what_to_do(api: SimpleNamespace) -> None:
    client = api.client

    def add(**body: Any) -> Any:
        return client.post("/v1/sources", headers=ADMIN, json={"name": "bad", "uri": str(api.watched), **body})

    _error(add(uri="ftp://example.org/docs"), 422, "unknown URI scheme 'ftp://'", "s3://BUCKET/PREFIX")
    _error(add(uri="s3://AKIAEXAMPLE:hunter2@bucket/docs"), 422, "carries credentials", "AWS_ACCESS_KEY_ID")
    assert "hunter2" not in add(uri="s3://AKIAEXAMPLE:hunter2@bucket/docs").text
    _error(add(uri="s3://missing-bucket/docs"), 422, "bucket 'missing-bucket' not found", "create it")
    _error(add(schedule="every night"), 422, "not a cron expression", "0 2 * * *")
    _error(add(schedule="0 2 * * *", watch=True), 422, "not both")
    _error(add(uri="s3://api-bucket/docs", watch=True), 422, "--watch needs a local folder", "--schedule")
    _error(add(options={"secret": "x"}), 422, "looks like a credential")
    _error(add(options={"endpoint_url": "http://169.254.169.254"}), 422, "cannot be set over the API")
    _error(add(uri="/etc"), 422, "CITEWISE_SOURCES__API_LOCAL_ROOTS")
    assert add(schedule="0 2 * * *").status_code == 201
    _error(add(), 409, "already exists", "sources remove bad")
    assert client.delete("/v1/sources/bad", headers=ADMIN).json() == {"source": "bad", "documents_deleted": 0}


def test_local_folder_root_is_resolved(api: SimpleNamespace) -> None:
    """A path through a symlink or '..' is judged where it leads (never outside the allowed roots)."""
    outside = Path(api.root).parent / "outside-roots"
    outside.mkdir(exist_ok=True)
    link = Path(api.root) / "escape"
    link.symlink_to(outside)
    response = api.client.post("/v1/sources", headers=ADMIN, json={"name": "escape", "uri": str(link)})
    _error(response, 422, "CITEWISE_SOURCES__API_LOCAL_ROOTS")


def test_globs_over_the_api(api: SimpleNamespace) -> None:
    client = api.client
    folder = Path(api.root) / "globbed"
    (folder / "drafts").mkdir(parents=True)
    shutil.copy(small_file("fake-text.txt"), folder / "fake-text.txt")
    shutil.copy(small_file("README.md"), folder / "drafts" / "README.md")

    def add(**body: Any) -> Any:
        return client.post("/v1/sources", headers=ADMIN, json={"name": "globbed", "uri": str(folder), **body})

    _error(add(include=[""]), 422, "is empty", "'*.pdf'")
    _error(add(exclude=["/etc/**"]), 422, "is absolute", "relative to the source's root")
    _error(add(include=["../../*"]), 422, "contains '..'")
    added = add(exclude=["**/drafts/**"])
    assert added.status_code == 201, added.text
    assert (added.json()["include"], added.json()["exclude"]) == ([], ["**/drafts/**"])
    job = wait_job(client, client.post("/v1/sources/globbed/sync", headers=ADMIN).json()["job_id"], ADMIN)
    assert job["state"] == "done" and job["result"]["files"]["ingested"] == 1, job
    assert "fake-text.txt" in _docs(client) and "drafts/README.md" not in _docs(client)

    _error(client.patch("/v1/sources/globbed", headers=ADMIN, json={}), 422, "nothing to change")
    _error(client.patch("/v1/sources/globbed", headers=ADMIN, json={"include": ["a\\b"]}), 422, "'/'")
    _error(client.patch("/v1/sources/globbed", headers=B_ADMIN, json={"exclude": []}), 404)
    patched = client.patch("/v1/sources/globbed", headers=ADMIN, json={"include": ["*.md"], "exclude": []})
    assert patched.status_code == 200, patched.text
    assert client.get("/v1/sources/globbed", headers=ADMIN).json()["include"] == ["*.md"]
    job = wait_job(client, client.post("/v1/sources/globbed/sync", headers=ADMIN).json()["job_id"], ADMIN)
    assert job["state"] == "done", job
    assert "drafts/README.md" in _docs(client) and "fake-text.txt" not in _docs(client)
    assert client.delete("/v1/sources/globbed", headers=ADMIN, params={"purge": True}).status_code == 200
