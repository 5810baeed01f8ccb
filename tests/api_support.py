"""Helpers for the API tests: a keys file with two tenants, uploads from the shared corpus, job polling."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tests.paths import CORPUS, require

KEYS = {
    "acme-writer-key-0000000001": {"tenant": "acme", "role": "writer"},
    "acme-reader-key-0000000001": {"tenant": "acme", "role": "reader"},
    "acme-admin-key-00000000001": {"tenant": "acme", "role": "admin"},
    "beta-writer-key-0000000001": {"tenant": "beta", "role": "writer"},
    "beta-admin-key-00000000001": {"tenant": "beta", "role": "admin"},
}


def key_for(tenant: str, role: str) -> str:
    return next(k for k, v in KEYS.items() if v == {"tenant": tenant, "role": role})


def auth(tenant: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key_for(tenant, role)}"}


def write_keys(folder: Path) -> Path:
    path = folder / "keys.json"
    path.write_text(json.dumps(KEYS))
    return path


def corpus_file(name: str) -> Path:
    return require(CORPUS / name)


def upload(client: Any, names: Sequence[str], headers: dict[str, str] | None = None) -> str:
    files = [("files", (name, corpus_file(name).read_bytes())) for name in names]
    response = client.post("/v1/ingest", files=files, headers=headers or {})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def parse_sse(lines: Iterable[str]) -> list[tuple[str, Any]]:
    """(event, JSON data) pairs from Server-Sent Events lines; comments (pings) are skipped."""
    events: list[tuple[str, Any]] = []
    event, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                events.append((event, json.loads("\n".join(data))))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        events.append((event, json.loads("\n".join(data))))
    return events


class SlowServer:
    """A real HTTP server on loopback that answers nothing for ``delay_s`` (an LLM that times out)."""

    def __init__(self, delay_s: float = 5.0) -> None:
        import http.server
        import threading

        delay = delay_s
        self.hits = 0  # requests received so far
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.hits += 1
                time.sleep(delay)
                self.send_response(503)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_job(client: Any, job_id: str, headers: dict[str, str] | None = None, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers or {}).json()
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")
