"""Issue 14, findings 4 and 5: jobs survive a restart, can be cancelled, are bounded; no orphaned uploads;
failure reasons name the cause; no API response carries the server's data dir path.

Real uploads through the API (embedded Qdrant, MiniLM); a "crash" is a jobs.sqlite and uploads folder left
as a killed server leaves them, then a fresh app on the same data dir.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.job_store import JobStore
from api.jobs import Job, JobManager
from citewise.errors import IndexUnavailable
from citewise.settings import Settings
from tests.api_support import auth, corpus_file, write_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRITER, ADMIN = auth("acme", "writer"), auth("acme", "admin")
GOOD, BAD = "fake-text.txt", "CantinaBand3.wav"


def _settings(root: Path, **api: Any) -> Settings:
    return Settings(
        data_dir=root / "data",
        api_keys_file=write_keys(root),
        ingest={"workers": 0},
        retrieval={"rerank": False},
        api=api,
    )


def _finish(client: TestClient, job_id: str, headers: dict[str, str], timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text  # never 404
        job = response.json()
        if job["state"] in ("done", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def _no_paths(response: Any, data_dir: Path) -> None:
    for form in {str(data_dir), str(data_dir.resolve())}:
        assert form not in response.text, response.text


def _crashed_job(store: JobStore, uploads: Path, name: str, state: str, keep_files: bool) -> str:
    """A job as a server killed mid-way leaves it: stored ``state``, its upload folder there or not."""
    folder = uploads / f"crash-{name}"
    folder.mkdir(parents=True)
    saved = folder / GOOD
    saved.write_bytes(corpus_file(GOOD).read_bytes())
    job = Job(job_id=f"crash{name}", tenant="acme", folder=folder, files={str(saved): GOOD}, state=state)
    job.owner = "ignored"
    store.save(job.job_id, job.created_at, job.state, job.body())
    if not keep_files:
        saved.unlink()
    return job.job_id


def test_a_restart_resumes_jobs_or_fails_them_with_a_reason_and_sweeps_orphans(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    settings = _settings(tmp_path)
    uploads = Path(settings.data_dir) / "api" / "uploads"
    store = JobStore(Path(settings.data_dir) / "api" / "jobs.sqlite")
    resumed = _crashed_job(store, uploads, "a", "running", keep_files=True)
    queued = _crashed_job(store, uploads, "b", "queued", keep_files=True)
    lost = _crashed_job(store, uploads, "c", "running", keep_files=False)
    store.close()
    orphan = uploads / "orphan-from-a-kill"
    orphan.mkdir()
    (orphan / "random.docx").write_bytes(b"x")
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        assert not orphan.exists()  # swept at start-up
        first = _finish(client, resumed, ADMIN)
        assert first["state"] == "done" and first["result"]["files"]["ingested"] == 1
        assert _finish(client, queued, ADMIN)["state"] == "done"
        gone = _finish(client, lost, ADMIN)
        assert gone["state"] == "failed" and gone["error"].startswith("ServerRestarted: ")
        assert "upload the files again" in gone["error"]
        _no_paths(client.get(f"/v1/jobs/{lost}", headers=ADMIN), Path(settings.data_dir))
    assert list(uploads.iterdir()) == []  # every folder removed once its job ended
    # and after another restart the finished jobs are still known
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        assert client.get(f"/v1/jobs/{resumed}", headers=ADMIN).json()["state"] == "done"


def test_cancel_conflict_failure_reasons_and_no_server_paths(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    settings = _settings(tmp_path)
    data_dir = Path(settings.data_dir)
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        files = [("files", (n, corpus_file(n).read_bytes())) for n in (GOOD, BAD)]
        created = client.post("/v1/ingest", files=files, headers=WRITER)
        assert created.status_code == 202
        _no_paths(created, data_dir)
        job_id = created.json()["job_id"]
        job = _finish(client, job_id, WRITER)
        assert job["state"] == "done" and [f["file"] for f in job["failures"]] == [BAD]
        assert job["failures"][0]["reason"] and "/" not in job["failures"][0]["reason"].split("(")[0]
        # cancelling a finished job: 409 with the error envelope
        conflict = client.delete(f"/v1/jobs/{job_id}", headers=WRITER)
        assert conflict.status_code == 409, conflict.text
        assert (
            conflict.json()["error"]["code"] == "conflict" and "already finished" in conflict.json()["error"]["message"]
        )
        assert client.delete(f"/v1/jobs/{'f' * 32}", headers=WRITER).status_code == 404
        for response in (
            client.get(f"/v1/jobs/{job_id}", headers=WRITER),
            client.get("/v1/documents", headers=ADMIN),
            client.post("/v1/search", json={"query": "dogs", "k": 5}, headers=ADMIN),
        ):
            assert response.status_code == 200
            _no_paths(response, data_dir)
    assert not any((data_dir / "api" / "uploads").iterdir())


def test_cli_ingested_sources_are_shown_relative_to_the_ingested_folder(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    from tests.ingest_support import build

    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / GOOD).write_bytes(corpus_file(GOOD).read_bytes())
    settings = _settings(tmp_path)
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    pipeline.run([folder], tenant="acme")
    pipeline.close()
    index.close()
    store.close()
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        docs = client.get("/v1/documents", headers=ADMIN).json()["documents"]
        assert [d["source"] for d in docs] == [f"sub/{GOOD}"]
        search = client.post("/v1/search", json={"query": "dogs", "k": 5}, headers=ADMIN)
        assert {h["source"] for h in search.json()["hits"]} == {f"sub/{GOOD}"}
        assert str(tmp_path) not in search.text and str(tmp_path) not in client.get("/v1/documents", headers=ADMIN).text


def test_queue_limit_cancel_of_queued_and_running_jobs_and_timeout(tmp_path: Path) -> None:
    """The job manager itself (no index needed): 429 past the queue limit, cancel, timeout, reasons."""
    from api.errors import Conflict, TooManyJobs

    gate = threading.Event()
    started = threading.Event()

    def runner(job: Any, progress: Any) -> Any:
        started.set()
        for _ in range(200):
            gate.wait(0.02)
            progress(SimpleNamespace(files_total=1, files_done=0, files_failed=0, chunks_written=0, phase="ingest"))
        if "boom" in job.files.values():
            raise IndexUnavailable("the index went away")
        raise RuntimeError("disk full at /srv/data/index")

    uploads = tmp_path / "uploads"
    store = JobStore(tmp_path / "jobs.sqlite")
    jobs = JobManager(runner, store=store, uploads=uploads, max_queued=2, timeout_s=60, redact=lambda t: t)
    folders = []
    for n in range(3):
        folders.append(uploads / str(n))
        folders[-1].mkdir(parents=True)
    running = jobs.submit("acme", folders[0], {"a": "a.txt"}, owner="k1")
    queued = jobs.submit("acme", folders[1], {"b": "b.txt"}, owner="k1")
    with pytest.raises(TooManyJobs, match="CITEWISE_API__MAX_QUEUED_JOBS"):
        jobs.submit("acme", folders[2], {"c": "c.txt"})
    assert TooManyJobs.status == 429
    started.wait(10)
    assert jobs.cancel(queued.job_id, "acme", "k1").state == "cancelled" and not folders[1].exists()
    assert jobs.cancel(running.job_id, "acme", None).state == "cancelled" and not folders[0].exists()
    with pytest.raises(Conflict):
        jobs.cancel(running.job_id, "acme", None)
    # a crash names its cause; a timeout says which setting
    boom = jobs.submit("acme", folders[2], {"c": "boom"})
    plain = jobs.submit("acme", uploads / "p", {"d": "d.txt"})
    gate.set()
    deadline = time.monotonic() + 20
    while plain.state not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert boom.error == "IndexUnavailable: the index went away"
    assert plain.error == "RuntimeError: disk full at /srv/data/index"
    jobs.timeout_s = 0.05
    gate.clear()  # progress steps 20 ms apart again
    slow = jobs.submit("acme", uploads / "s", {"e": "e.txt"})
    deadline = time.monotonic() + 20
    while slow.state not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slow.state == "failed" and str(slow.error).startswith("JobTimeout: ") and "JOB_TIMEOUT_S" in str(slow.error)
    jobs.close()
