"""A source sync queued or running when the server stops runs again after the restart, as upload jobs do: the same
job id finishes, and only what the interrupted run had not finished is ingested (real app lifespans on one data
dir, embedded Qdrant, MiniLM; SciFact abstracts as the folder's files)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.job_store import JobStore
from citewise.settings import Settings
from tests.api_support import auth, wait_job, write_keys
from tests.paths import scifact_docs

pytestmark = [pytest.mark.integration]
ADMIN = auth("acme", "admin")
FILES = 24


def _settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        api_keys_file=write_keys(root),
        ingest={"workers": 0},
        retrieval={"rerank": False},
        # no schedules or watches: only the resumed job can sync after the restart
        sources={"api_local_roots": [root], "fetch_batch": 1, "run_schedules": False},
    )


def test_a_sync_stopped_by_the_server_runs_again_after_the_restart(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    folder = tmp_path / "abstracts"
    folder.mkdir()
    for doc in scifact_docs(FILES):
        (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n")
    settings = _settings(tmp_path)

    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        added = client.post("/v1/sources", headers=ADMIN, json={"name": "abstracts", "uri": str(folder)})
        assert added.status_code == 201, added.text
        job_id = client.post("/v1/sources/abstracts/sync", headers=ADMIN).json()["job_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            progress = client.get(f"/v1/jobs/{job_id}", headers=ADMIN).json()["progress"]
            if progress["files_done"] >= 2:
                break
            time.sleep(0.01)
        # leaving the block stops the server mid-sync

    store = JobStore(Path(settings.data_dir) / "api" / "jobs.sqlite")
    stopped = next(body for body in store.load() if body["job_id"] == job_id)
    store.close()
    assert stopped["state"] == "queued" and stopped["sources"] == ["abstracts"], stopped

    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        job = wait_job(client, job_id, ADMIN)
        assert job["state"] == "done" and job["error"] is None, job
        files = job["result"]["files"]
        assert files["unchanged"] >= 2 and files["ingested"] + files["unchanged"] == FILES, files
        listed = client.get("/v1/documents", headers=ADMIN, params={"limit": 500}).json()["documents"]
        assert len(listed) == FILES
        last = client.get("/v1/sources/abstracts", headers=ADMIN).json()["last_sync"]
        assert last["error"] is None and last["objects"] == FILES
