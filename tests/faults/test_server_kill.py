"""kill -9 of ``citewise serve`` in the middle of an upload job, then a restart: the job is re-sent and the index
ends exactly as a clean ingest of the same uploads (0 lost, 0 duplicated), ``index check`` clean."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults import harness
from tests.faults.harness import Launcher
from tests.net import free_port
from tests.paths import CORPUS, require

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.integration]

SEED = int(os.environ.get("CITEWISE_FAULT_SEED", "1414"))
# an upload job passes these (no prune; delete only for documents the docstore already knows)
SERVER_POINTS = ("parse", "encode", "docstore_begin", "upsert", "flush", "docstore_commit")


class Server:
    def __init__(self, launcher: Launcher, data: Path, log: Path, **env: str) -> None:
        self.launcher = launcher
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environment = harness.cli_env(data, CITEWISE_INGEST__WORKERS="0", **env)
        self.pid = launcher.start(["serve", "--port", str(self.port)], environment, data.parent, log)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server did not get ready:\n{log.read_text()[-2000:]}"
            time.sleep(0.2)

    def upload(self, files: list[Path]) -> str:
        parts = [("files", (f.name, f.read_bytes(), "text/plain")) for f in files]
        response = httpx.post(f"{self.url}/v1/ingest", files=parts, timeout=30)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while True:
            body: dict[str, Any] = httpx.get(f"{self.url}/v1/jobs/{job_id}", timeout=10).json()
            if body["state"] in ("done", "failed"):
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.2)

    def stop(self) -> int:
        os.kill(self.pid, signal.SIGTERM)
        return self.launcher.wait(self.pid)


def test_server_killed_mid_job_recovers_after_restart(
    tmp_path: Path, launcher: Launcher, dense_encoder: Any, bm25_encoder: Any
) -> None:
    folder = tmp_path / "uploads"
    require(CORPUS)
    harness.write_v1(folder)
    files = sorted(folder.iterdir())
    expected_dir = tmp_path / "expected"
    assert harness.ingest_uploads(expected_dir, files, dense_encoder, bm25_encoder).ok
    expected_points, expected_records = harness.snapshot(expected_dir)
    shutil.rmtree(expected_dir)

    rng = random.Random(SEED)
    data = tmp_path / "data"
    for attempt in range(2):  # killed twice (the second time with pending documents left by the first)
        point = rng.choice(SERVER_POINTS)
        todo = len(files) - (harness.docstore_counts(data)[0] if data.exists() else 0)  # committed ones are skipped
        n = rng.randint(1, todo)  # one pass per document to write (one document per batch)
        server = Server(launcher, data, tmp_path / f"serve-{attempt}.log", CITEWISE_FAULT_POINT=f"{point}:{n}")
        server.upload(files)
        rc = launcher.wait(server.pid, timeout=120)  # the job reaches the crash point and the server dies
        assert rc == -signal.SIGKILL, f"not killed at {point}:{n} (rc {rc}):\n{server.log.read_text()[-2000:]}"

    server = Server(launcher, data, tmp_path / "serve-final.log")
    job = server.job(server.upload(files))
    assert job["state"] == "done" and not job["failures"], job
    # uvicorn shuts down, then re-raises the SIGTERM it caught; serve exits 128+15 after removing its card
    assert server.stop() in (0, -signal.SIGTERM, 128 + signal.SIGTERM)

    report = harness.check(data)
    assert report.clean and report.lost == 0 and report.duplicated == 0, report.as_dict()
    points, records = harness.snapshot(data)
    assert records == expected_records
    assert points == expected_points  # nothing lost, nothing duplicated
