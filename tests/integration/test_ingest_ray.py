"""The Ray engine and the local engine build the same index: same point ids, payloads, vectors, docstore records,
failures and summary, on real files (bad ones included), on a re-run and after changes with --prune.

Ray runs on this machine (``ray.init(num_cpus=2)``), started once for the module.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.docstore import DocStore
from citewise.index import Index, open_index
from citewise.settings import RaySettings, load_settings
from tests.paths import CORPUS, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner()
GOOD = ["README.md", "simple.docx", "fake-html.html", "stanley-cups.csv", "fake-email.eml", "README.rst"]
TIMING = {"elapsed_s"}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    from ingest.engines.ray_engine import connect

    connect(RaySettings(num_cpus=2))
    yield
    ray.shutdown()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = require(CORPUS)
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    for i, name in enumerate(GOOD):
        shutil.copy2(root / name, (docs / "sub" if i % 2 else docs) / name)
    (docs / "corrupt.docx").write_bytes((root / "simple.docx").read_bytes()[:700])  # a truncated zip
    (docs / "empty.md").write_text("   \n")  # no text at all
    return docs


def ingest(engine: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    """``citewise ingest --json`` with ``engine`` into ``data_dir``; the summary without timing fields."""
    monkeypatch.setenv("CITEWISE_DATA_DIR", str(data_dir))
    result = runner.invoke(app, ["ingest", *args, "--engine", engine, "--json", "--workers", "1"])
    assert result.exit_code in (0, 3), result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {k: v for k, v in summary.items() if k not in TIMING}


def points(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[dict[str, Any], np.ndarray]]:
    """Every point of the collection (id -> payload, dense vector), read back by scrolling the index."""
    monkeypatch.setenv("CITEWISE_DATA_DIR", str(data_dir))
    index: Index = open_index(load_settings())
    out, offset = {}, None
    try:
        while True:
            records, offset = index.scroll(limit=256, offset=offset, with_vectors=True)
            out.update({r.id: (r.payload, np.asarray(r.dense, dtype=np.float32)) for r in records})
            if offset is None:
                return out
    finally:
        index.close()


def records(data_dir: Path) -> dict[str, Any]:
    store = DocStore(data_dir, "citewise")
    try:
        keep = ("source", "title", "file_type", "content_hash", "pending_hash", "chunks", "versions", "tags")
        return {r.doc_id: ({k: getattr(r, k) for k in keep}, store.get_text(r.doc_id)) for r in store.iter_all()}
    finally:
        store.close()


def assert_same_index(local: Path, ray: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    a, b = points(local, monkeypatch), points(ray, monkeypatch)
    assert a.keys() == b.keys()
    for point_id, (payload, vector) in a.items():
        assert b[point_id][0] == payload, point_id
        assert float(np.dot(vector, b[point_id][1])) > 0.9999, point_id  # same model, other batch composition
    assert records(local) == records(ray)
    return len(a)


def test_ray_and_local_engines_build_the_same_index(
    ray_cluster: None, clean_env: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, ray = clean_env / "local", clean_env / "ray"
    # first run: every good file ingested, the two bad ones reported with their reasons
    first = ingest("local", local, monkeypatch, str(folder))
    assert first == ingest("ray", ray, monkeypatch, str(folder))
    assert first["files"]["ingested"] == len(GOOD) and first["files"]["failed"] == 2
    assert [Path(f["path"]).name for f in first["failures"]] == ["corrupt.docx", "empty.md"]
    n = assert_same_index(local, ray, monkeypatch)
    assert n == first["chunks"]["added"] > len(GOOD)

    # re-run: nothing redone (the bad files are tried again and fail the same way)
    again = ingest("ray", ray, monkeypatch, str(folder))
    assert again == ingest("local", local, monkeypatch, str(folder))
    assert again["files"]["unchanged"] == len(GOOD) and again["chunks"] == {"added": 0, "removed": 0}
    assert again["failures"] == first["failures"]

    # a changed file, a removed file, a new file; --prune
    (folder / "README.md").write_text("# Changed\n\nOnly this short paragraph is left of the readme.\n")
    (folder / "sub" / "simple.docx").unlink()
    shutil.copy2(require(CORPUS) / "README.org", folder / "sub" / "README.org")
    changed = ingest("local", local, monkeypatch, str(folder), "--prune")
    assert changed == ingest("ray", ray, monkeypatch, str(folder), "--prune")
    files = changed["files"]
    assert (files["ingested"], files["changed"], files["removed"], files["failed"]) == (1, 1, 1, 2)
    assert changed["chunks"]["removed"] > 0
    assert assert_same_index(local, ray, monkeypatch) == sum(r["chunks"] for r, _ in records(ray).values())


def test_a_worker_error_reaches_the_caller_as_a_citewise_error(
    ray_cluster: None, clean_env: Path, folder: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    # the workers build their encoder from the settings; an unknown model fails there, not in the driver
    from citewise.errors import ModelUnavailable
    from ingest.engines import make_pipeline
    from tests.ingest_support import CountingEncoder

    settings = load_settings()
    bad = settings.model_copy(update={"encoder": settings.encoder.model_copy(update={"model": "/no/such/model"})})
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    driver = CountingEncoder(dense_encoder)
    driver.model_id = "/no/such/model"  # the driver believes in it; the workers cannot load it
    pipeline = make_pipeline("ray", bad, index, driver, bm25_encoder, store)
    try:
        with pytest.raises(ModelUnavailable, match="/no/such/model"):
            pipeline.run([folder / "README.md"])
    finally:
        pipeline.close()
        index.close()
        store.close()


class InProcessDataset:
    """The Ray pipeline's three stages run in this process, in order, on one batch (what Ray Data schedules).

    For the server backend in tests: qdrant-client's ``:memory:`` store lives in one process, so the writer
    must write to the driver's own client instead of opening one on a worker.
    """

    def __init__(self, tasks: list[Any], job: Any, index: Index) -> None:
        from ingest.engines import ray_engine

        batch = {"idx": np.arange(len(tasks)), "item": ray_engine._column([ray_engine._dump(t) for t in tasks])}
        batch = ray_engine.parse_and_chunk(batch, job)
        batch = ray_engine.EncodeActor(job)(batch)
        writer = object.__new__(ray_engine.WriteActor)
        writer.index, writer.error = index, None
        self.batch = writer(batch)

    def iter_batches(self, **kwargs: Any) -> Iterator[dict[str, np.ndarray]]:
        yield self.batch


def test_ray_stages_run_in_process_on_the_server_backend_write_what_the_local_engine_writes(
    ray_cluster: None,  # the encode stage asks Ray for its GPUs; no Ray task runs here
    settings: Any,
    folder: Path,
    dense_encoder: Any,
    bm25_encoder: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Ray engine's parse, encode and write stages, called in this process (``InProcessDataset`` stands in for
    Ray Data: qdrant-client's ``:memory:`` server store lives in one process, so no Ray worker could reach it),
    write the same points and docstore records as the local engine on the server backend. Ray itself scheduling
    the stages is ``test_ray_and_local_engines_build_the_same_index`` (embedded backend)."""
    from citewise.index_server import ServerIndex
    from ingest.engines import make_pipeline, ray_engine

    cfg = settings.model_copy(
        update={"qdrant": settings.qdrant.model_copy(update={"backend": "server", "url": ":memory:"})}
    )
    results = {}
    for engine in ("local", "ray"):
        index = ServerIndex.connect(cfg.qdrant, "citewise")
        store = DocStore(cfg.data_dir / engine, "citewise")
        monkeypatch.setattr(
            ray_engine,
            "build_dataset",
            lambda tasks, job, rs, collection, index=index: InProcessDataset(tasks, job, index),
        )
        pipeline = make_pipeline(engine, cfg, index, dense_encoder, bm25_encoder, store)
        summary = pipeline.run([folder], workers=0)
        pipeline.close()
        scrolled, _ = index.scroll(limit=1000)
        results[engine] = (summary.files, summary.chunks, summary.failures, summary.doc_ids)
        results[engine + "_points"] = {r.id: r.payload for r in scrolled}
        results[engine + "_docs"] = {r.doc_id: (r.content_hash, r.chunks, r.pending_hash) for r in store.iter_all()}
        store.close()
    assert results["local"] == results["ray"]
    assert results["local_points"] == results["ray_points"] and len(results["ray_points"]) > len(GOOD)
    assert results["local_docs"] == results["ray_docs"]
    assert all(h is not None and p is None for h, _, p in results["ray_docs"].values())  # committed
