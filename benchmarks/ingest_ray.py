"""Ingest throughput: the local engine against the Ray engine on the same documents, in the same run.

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/ingest_ray.py --docs 400 --json ray-bench.json

The documents are the first ``--docs`` SciFact abstracts written as Markdown files (a title heading and the
abstract). Each engine ingests them into a fresh embedded index with the real MiniLM encoder; Ray runs on
this machine (``ray.init(num_cpus=--cpus)``, its start-up timed apart). Then each step is timed alone on one
core (parse + chunk, dense + sparse encode, write): the per-core figures docs/scaling.md builds on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from citewise.offline import apply_offline_defaults

apply_offline_defaults()

from citewise.docstore import DocStore  # noqa: E402
from citewise.encoders import Bm25Encoder, SentenceTransformerEncoder  # noqa: E402
from citewise.index import CollectionSpec, open_index  # noqa: E402
from citewise.settings import RaySettings, load_settings  # noqa: E402
from ingest import steps  # noqa: E402
from ingest.engines import make_pipeline  # noqa: E402
from ingest.engines.ray_engine import connect  # noqa: E402
from ingest.steps import DocContext, Failure  # noqa: E402
from tests.paths import scifact_docs  # noqa: E402


def write_docs(folder: Path, n: int) -> int:
    folder.mkdir(parents=True)
    total = 0
    for doc in scifact_docs(n):
        text = f"# {doc['title']}\n\n{doc['text']}\n"
        (folder / f"{doc['_id']}.md").write_text(text)
        total += len(text.encode())
    return total


def run_engine(engine: str, docs: Path, data_dir: Path, dense: Any, sparse: Any) -> dict[str, Any]:
    settings = load_settings(data_dir=data_dir)
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    pipeline = make_pipeline(engine, settings, index, dense, sparse, store)
    try:
        started = time.perf_counter()
        summary = pipeline.run([docs])
        wall = time.perf_counter() - started
        points = index.count()
    finally:
        pipeline.close()
        index.close()
        store.close()
    assert summary.ok and points == summary.chunks.added, (summary.failures, points)
    return {"engine": engine, "files": summary.files.ingested, "chunks": points, "wall_s": round(wall, 2)}


def steps_alone(docs: Path, data_dir: Path, dense: Any, sparse: Any) -> dict[str, float]:
    """Each step on one core: files/s for parse + chunk, chunks/s for encode and for the embedded write."""
    import torch

    from ingest.chunking import Chunker
    from ingest.discovery import discover, doc_id_for, file_hash, source_for

    settings = load_settings(data_dir=data_dir)
    cfg = settings.ingest
    chunker = Chunker(dense.count_tokens, int(dense.max_seq_length), cfg.chunk_tokens, cfg.chunk_overlap)
    ctx = DocContext("default", (), {}, {"chunker": chunker.version})
    files = discover([docs])
    started = time.perf_counter()
    prepared = []
    for path in files:
        source = source_for(path)
        task = steps.FileTask(str(path), source, doc_id_for(source), file_hash(path), path.stat().st_size, 0.0, False)
        parsed = steps.parse_file(task, None)
        assert not isinstance(parsed, Failure), parsed
        item = steps.prepare(task, parsed, chunker, ctx)
        assert not isinstance(item, Failure), item
        prepared.append(item)
    parse_s = time.perf_counter() - started
    chunks = [c for p in prepared for c in p.chunks]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        dense_vectors = dense.encode([c.text for c in chunks])
        dense_s = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    sparse.encode([c.text for c in chunks])
    sparse_s = time.perf_counter() - started
    points = steps.encode(chunks, dense, sparse)  # (vectors again, with all threads; not timed)
    assert len(points) == len(dense_vectors)
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    try:
        index.ensure(CollectionSpec(dense_size=int(dense.dim), encoder=str(dense.model_id)))
        started = time.perf_counter()
        steps.write(index, store, prepared, points)
        write_s = time.perf_counter() - started
    finally:
        index.close()
        store.close()
    payload_bytes = sum(len(json.dumps(p.payload).encode()) for p in points)
    sparse_nnz = sum(len(p.sparse.indices) for p in points)
    return {
        "files": len(files),
        "chunks": len(chunks),
        "chunks_per_file": round(len(chunks) / len(files), 2),
        "payload_bytes_per_point": round(payload_bytes / len(points)),
        "sparse_nnz_per_point": round(sparse_nnz / len(points), 1),
        "hash_mb_per_s": hash_rate(files),
        "parse_chunk_files_per_s": round(len(files) / parse_s, 1),
        "dense_chunks_per_s_1core": round(len(chunks) / dense_s, 1),
        "bm25_chunks_per_s_1core": round(len(chunks) / sparse_s, 1),
        "write_points_per_s": round(len(chunks) / write_s, 1),
        "chunk_tokens_mean": round(sum(dense.count_tokens(c.text) for c in chunks) / len(chunks), 1),
    }


def hash_rate(files: list[Path]) -> float:
    """sha256 of the files' bytes (what planning does to every file), MB/s on one core, from the page cache."""
    from ingest.discovery import file_hash

    size = sum(f.stat().st_size for f in files)
    started = time.perf_counter()
    for _ in range(5):
        for f in files:
            file_hash(f)
    return round(5 * size / 1e6 / (time.perf_counter() - started), 1)


MIXED = [  # real files of the shared corpus, one per common format, parsed alone (step 1 + 2)
    "pdf/layout-parser-paper-fast.pdf",
    "simple.docx",
    "fake-power-point.pptx",
    "stanley-cups.xlsx",
    "fake-html.html",
    "README.md",
    "stanley-cups.csv",
    "fake-email.eml",
    "example-10k-1p.html",
    "handbook-1p.docx",
]


def mixed_parse(dense: Any) -> dict[str, Any]:
    """Parse + chunk seconds per file for ``MIXED`` (each file twice; the second, warm, time is kept)."""
    from ingest.chunking import Chunker
    from ingest.discovery import doc_id_for, file_hash, source_for
    from tests.paths import CORPUS, require

    root = require(CORPUS)
    cfg = load_settings().ingest
    chunker = Chunker(dense.count_tokens, int(dense.max_seq_length), cfg.chunk_tokens, cfg.chunk_overlap)
    ctx = DocContext("default", (), {}, {})
    seconds, chunks = {}, 0
    for name in MIXED:
        path = root / name
        source = source_for(path)
        task = steps.FileTask(str(path), source, doc_id_for(source), file_hash(path), path.stat().st_size, 0.0, False)
        for _ in range(2):
            started = time.perf_counter()
            parsed = steps.parse_file(task, None)
            assert not isinstance(parsed, Failure), parsed
            item = steps.prepare(task, parsed, chunker, ctx)
            elapsed = time.perf_counter() - started
        assert not isinstance(item, Failure), item
        chunks += len(item.chunks)
        seconds[name] = round(elapsed, 3)
    total = sum(seconds.values())
    return {"seconds": seconds, "files_per_s_1core": round(len(MIXED) / total, 2), "chunks": chunks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=400, help="SciFact abstracts to ingest")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs Ray may use")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    load_start = round(os.getloadavg()[0], 1)
    work = Path(tempfile.mkdtemp(prefix="citewise-bench-ray-"))
    try:
        docs = work / "docs"
        size = write_docs(docs, args.docs)
        dense, sparse = SentenceTransformerEncoder(), Bm25Encoder()
        local = run_engine("local", docs, work / "local", dense, sparse)
        started = time.perf_counter()
        connect(RaySettings(num_cpus=args.cpus))
        ray_start = round(time.perf_counter() - started, 2)
        ray = run_engine("ray", docs, work / "ray", dense, sparse)
        import ray as ray_module

        ray_module.shutdown()
        alone = steps_alone(docs, work / "alone", dense, sparse)
        mixed = mixed_parse(dense)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert local["chunks"] == ray["chunks"]
    result = {
        "docs": args.docs,
        "bytes": size,
        "cpus": args.cpus,
        "load_avg_1m_start_end": [load_start, round(os.getloadavg()[0], 1)],  # the machine is shared
        "local": local,
        "ray": ray,
        "ray_start_s": ray_start,
        "ray_vs_local_wall": round(ray["wall_s"] / local["wall_s"], 2),
        "steps_one_core": alone,
        "mixed_formats_parse": mixed,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
