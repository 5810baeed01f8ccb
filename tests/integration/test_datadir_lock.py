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
