"""Issue 14, finding 1: a second process next to the owner of a data dir stops before touching any file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citewise.datadir import DataDirBusy, read_holder
from citewise.index import CollectionSpec
from citewise.index_edge import EdgeIndex
from tests.paths import REPO

pytestmark = pytest.mark.integration

OWNER = """
import sys, time
from pathlib import Path
from citewise.index import CollectionSpec
from citewise.index_edge import EdgeIndex
index = EdgeIndex(Path(sys.argv[1]) / "index", "citewise")
index.ensure(CollectionSpec(dense_size=4, encoder="test"))
index.count()
print("ready", flush=True)
time.sleep(60)
"""


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_second_process_leaves_the_owners_files_byte_identical(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(data)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        before = _snapshot(data)
        with pytest.raises(DataDirBusy) as busy:
            EdgeIndex(data / "index", "citewise").count()
        assert busy.value.holder.pid == owner.pid and f"pid {owner.pid}" in busy.value.message
        assert "one process at a time" in busy.value.message and "--wait" in busy.value.message
        time.sleep(0.1)
        assert _snapshot(data) == before, "the second process changed the owner's files"
        assert read_holder(data).pid == owner.pid
    finally:
        owner.kill()
        owner.wait()
    # once the owner is gone (even killed), the lock is free again and the index opens
    index = EdgeIndex(data / "index", "citewise")
    try:
        index.ensure(CollectionSpec(dense_size=4, encoder="test"))
        assert index.count() == 0
    finally:
        index.close()


def test_local_handoff_routes_need_the_token_and_loopback(
    tmp_path: Path, dense_encoder: object, bm25_encoder: object
) -> None:
    from fastapi.testclient import TestClient

    from api import create_app
    from api.local import TOKEN_HEADER
    from citewise.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", retrieval={"rerank": False})
    hidden = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    with TestClient(hidden, client=("127.0.0.1", 5000)) as client:
        assert client.get("/v1/local/index/stats", headers={TOKEN_HEADER: "x"}).status_code == 404
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder, local_token="secret-token")
    with TestClient(app, client=("127.0.0.1", 5000)) as client:
        assert client.get("/v1/local/index/stats").status_code == 401
        assert client.get("/v1/local/index/stats", headers={TOKEN_HEADER: "wrong"}).status_code == 401
        ok = client.get("/v1/local/index/stats", headers={TOKEN_HEADER: "secret-token"})
        assert ok.status_code == 200 and ok.json()["backend"] == "embedded"
        assert "/v1/local/ingest" not in client.get("/openapi.json").text
    with TestClient(app, client=("10.0.0.7", 5000)) as remote:
        refused = remote.get("/v1/local/index/stats", headers={TOKEN_HEADER: "secret-token"})
        assert refused.status_code == 403 and "loopback" in refused.json()["error"]["message"]


def test_a_second_server_on_one_data_dir_refuses_naming_the_first(tmp_path: Path) -> None:
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CITEWISE_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "citewise.cli", "serve", "--host", "127.0.0.1", "--port"]
    first = subprocess.Popen([*cmd, str(port)], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        card = tmp_path / "data" / "server.json"
        deadline = time.monotonic() + 60
        while not card.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert json.loads(card.read_text())["pid"] == first.pid
        assert oct((tmp_path / "data" / "server.token").stat().st_mode & 0o777) == "0o600"
        second = subprocess.run([*cmd, str(port + 1)], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert "another citewise process owns the data dir" in second.stderr and str(first.pid) in second.stderr
    finally:
        first.kill()
        first.wait()


def test_ingest_without_wait_names_wait_and_the_owner_and_with_a_timeout_gives_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("one small file")
    env = {**os.environ, "PYTHONPATH": str(REPO), "CITEWISE_DATA_DIR": str(data)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(data)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        cmd = [sys.executable, "-m", "citewise.cli", "ingest", str(docs)]
        now = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert now.returncode == 1 and "--wait" in now.stderr and str(owner.pid) in now.stderr
        waited = subprocess.run(
            [*cmd, "--wait", "--wait-timeout", "1"], env=env, capture_output=True, text=True, timeout=120
        )
        assert waited.returncode == 1 and "waiting for the data dir" in waited.stderr
    finally:
        owner.kill()
        owner.wait()
