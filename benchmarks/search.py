"""Search latency: p50/p95 of ``Retriever.search`` (hybrid, no rerank, query encoding included) at scale.

    PYTHONPATH=. nice -n 10 .venv/bin/python -m benchmarks.search \
        --data-dir /tmp/citewise-latency --sizes 100000,1000000

How the synthetic collection is made (real text, real vectors, no random embeddings):
1. a pool of real SciFact sentences (``--pool`` of them) is encoded once with the real MiniLM encoder and
   cached in ``--data-dir``;
2. each synthetic chunk joins ``--per-chunk`` pool sentences; its text is their concatenation (BM25 is computed
   on that text by the real BM25 encoder) and its dense vector is the normalized sum of their MiniLM vectors plus
   a little Gaussian noise (``--noise``), so no two chunks share a vector even when they share sentences;
3. the points go into the embedded index (qdrant-edge), which is then optimized (HNSW built); the index is
   kept and reused by later runs.

Queries are real SciFact claims, each searched once with the query cache off, so every search pays for
encoding with the configured encoder backend (``auto``: onnx-int8 on CPU, as shipped; set
``CITEWISE_ENCODER__BACKEND=torch`` to compare). The baseline is the bare dense encoding of the same queries with
the same encoder, in the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scifact import corpus, queries
from citewise.index import CollectionSpec, IndexPoint
from citewise.index_edge import EdgeIndex
from citewise.offline import apply_offline_defaults
from citewise.settings import load_settings
from citewise.types import Chunk

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def sentence_pool(size: int, seed: int = 7) -> list[str]:
    """``size`` distinct real sentences from the SciFact abstracts (20-400 characters), in a seeded order."""
    seen: dict[str, None] = {}
    for doc in corpus():
        for sentence in SENTENCE.split(doc["text"]):
            if 20 <= len(sentence) <= 400:
                seen[sentence.strip()] = None
    pool = list(seen)
    np.random.default_rng(seed).shuffle(pool)  # type: ignore[arg-type]
    if len(pool) < size:
        print(f"only {len(pool)} distinct sentences; using them all", file=sys.stderr)
    return pool[:size]


def encoded_pool(data_dir: Path, size: int, dense: Any) -> tuple[list[str], np.ndarray]:
    """The pool sentences and their MiniLM vectors, encoded once and cached."""
    texts_file, vectors_file = data_dir / f"pool-{size}.json", data_dir / f"pool-{size}.npy"
    if texts_file.exists() and vectors_file.exists():
        return json.loads(texts_file.read_text()), np.load(vectors_file)
    texts = sentence_pool(size)
    started = time.perf_counter()
    parts = []
    for start in range(0, len(texts), 1024):
        parts.append(dense.encode(texts[start : start + 1024]))
        done = start + len(parts[-1])
        print(f"\rencoded {done}/{len(texts)} sentences ({done / (time.perf_counter() - started):.0f}/s)",
              end="", file=sys.stderr, flush=True)  # fmt: skip
    print(file=sys.stderr)
    vectors = np.concatenate(parts).astype(np.float32)
    data_dir.mkdir(parents=True, exist_ok=True)
    np.save(vectors_file, vectors)
    texts_file.write_text(json.dumps(texts))
    return texts, vectors


def build(data_dir: Path, n: int, texts: list[str], vectors: np.ndarray, sparse: Any, args: Any) -> EdgeIndex:
    """A collection of ``n`` synthetic chunks under ``data_dir/index``, built unless complete already."""
    index = EdgeIndex(data_dir / "index", f"synthetic-{n}")
    if index.spec() is not None and index.count() == n:
        return index
    index.drop()
    index.ensure(CollectionSpec(dense_size=vectors.shape[1], encoder="synthetic-minilm"))
    rng = np.random.default_rng(n)
    started = time.perf_counter()
    batch = 2000
    for start in range(0, n, batch):
        count = min(batch, n - start)
        picks = rng.integers(0, len(texts), size=(count, args.per_chunk))
        dense = vectors[picks].sum(axis=1) + rng.normal(0, args.noise, size=(count, vectors.shape[1]))
        dense /= np.linalg.norm(dense, axis=1, keepdims=True)
        chunk_texts = [" ".join(texts[i] for i in row) for row in picks]
        sparse_vecs = sparse.encode(chunk_texts)
        points = []
        for j, text in enumerate(chunk_texts):
            doc = f"syn-{start + j}"
            chunk = Chunk(doc_id=doc, chunk_index=0, text=text, source=f"/synthetic/{doc}.txt", title=doc,
                          char_start=0, char_end=len(text), file_type="txt")  # fmt: skip
            points.append(IndexPoint(chunk.id, dense[j].tolist(), sparse_vecs[j], chunk.payload()))
        index.upsert(points)
        done = start + count
        print(f"\r{n}: wrote {done} points ({done / (time.perf_counter() - started):.0f}/s)",
              end="", file=sys.stderr, flush=True)  # fmt: skip
    print(file=sys.stderr)
    t0 = time.perf_counter()
    index.optimize()
    index.flush()
    print(f"{n}: built in {t0 - started:.0f} s, optimized in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return index


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    qs = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {"p50": round(qs[49], 2), "p95": round(qs[94], 2), "mean": round(statistics.fmean(samples_ms), 2)}


def measure(retriever: Any, dense: Any, qs: list[str]) -> dict[str, Any]:
    """Search latency vs the bare encode of the same queries, interleaved so both see the same load."""
    from retrieval import access_filter

    flt = access_filter("default")
    search_ms, encode_ms, retrieve_ms = [], [], []
    for q in qs:
        t0 = time.perf_counter()
        dense.encode([q])
        encode_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        result = retriever.search(q, k=10, filters=flt, mode="hybrid", rerank=False)
        search_ms.append((time.perf_counter() - t0) * 1000)
        retrieve_ms.append(result.timings_ms["retrieve"])
    s, e = percentiles(search_ms), percentiles(encode_ms)
    return {
        "search": s,
        "bare_encode": e,
        "retrieve_only": percentiles(retrieve_ms),
        "search_over_encode_p50": round(s["p50"] / e["p50"], 2),
        "queries": len(qs),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="pool cache and indexes (reused)")
    parser.add_argument("--sizes", default="100000", help="comma-separated collection sizes")
    parser.add_argument("--pool", type=int, default=2000, help="real sentences encoded for the pool")
    parser.add_argument("--per-chunk", type=int, default=3, help="pool sentences per synthetic chunk")
    parser.add_argument("--noise", type=float, default=0.05, help="std of the noise added to each dense vector")
    parser.add_argument("--queries", type=int, default=300, help="SciFact claims searched (each once)")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args(argv)
    apply_offline_defaults()

    from citewise.encoders import Bm25Encoder, load_dense_encoder, resolve_backend
    from retrieval import Retriever

    settings = load_settings()
    encoder_settings = settings.encoder.model_copy(update={"query_cache_size": 0})
    dense = load_dense_encoder(encoder_settings, settings.data_dir)  # the configured backend (auto: onnx-int8 on CPU)
    sparse = Bm25Encoder()
    texts, vectors = encoded_pool(args.data_dir, args.pool, dense)
    qs = list(queries().values())[: args.queries]
    report: dict[str, Any] = {
        "pool_sentences": len(texts),
        "encoder_backend": resolve_backend(encoder_settings),
        "settings": settings.retrieval.model_dump(),
    }
    for n in (int(s) for s in args.sizes.split(",")):
        index = build(args.data_dir, n, texts, vectors, sparse, args)
        try:
            if args.build_only:
                continue
            retriever = Retriever(settings.retrieval, index, dense, sparse)
            retriever.warm_up()
            measure(retriever, dense, qs[:20])  # warm caches and the index's mmaps
            report[str(n)] = measure(retriever, dense, qs)
            print(json.dumps({n: report[str(n)]}), file=sys.stderr)
        finally:
            index.close()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
