"""Dense encoder backends on SciFact, all in one run: texts/s, embed+index docs/s, query-encode p50/p95,
and nDCG@10 (dense-only and hybrid with BM25 through the embedded Qdrant index) per backend.

    nice -n 10 .venv/bin/python -m benchmarks.encoders --docs 1000

The corpus subset holds every document relevant to the chosen test queries, filled up to ``--docs`` with
the corpus's first documents (``--docs 0``: the whole corpus). Throughput slices are interleaved across
backends so that load on the shared machine hits every backend alike. The ONNX exports are built in a
temporary data dir (their time is reported as ``export_s``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from citewise.encoders import Bm25Encoder, OnnxEncoder, SentenceTransformerEncoder, resolve_threads
from citewise.index import CollectionSpec, IndexPoint, SearchQuery
from citewise.index_edge import EdgeIndex
from citewise.offline import apply_offline_defaults

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact"


def load_scifact(n_docs: int, n_queries: int) -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]]]:
    """(doc ids, doc texts, {query id: text}, qrels) for the test queries and a corpus subset."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    chosen = sorted(qrels, key=int)[: n_queries or None]
    qrels = {q: qrels[q] for q in chosen}
    queries = {}
    for line in (SCIFACT / "queries.jsonl").open():
        row = json.loads(line)
        if row["_id"] in qrels:
            queries[row["_id"]] = row["text"]
    relevant = {d for rel in qrels.values() for d in rel}
    docs: dict[str, str] = {}
    for line in (SCIFACT / "corpus.jsonl").open():
        row = json.loads(line)
        if row["_id"] in relevant or not n_docs or len(docs) < n_docs - len(relevant - docs.keys()):
            docs[row["_id"]] = f"{row['title']} {row['text']}".strip()
    return list(docs), list(docs.values()), queries, qrels


def ndcg_at_10(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 (graded gains, log2 discount), as trec_eval computes it."""
    scores = []
    for qid, rel in qrels.items():
        ranked = run.get(qid, [])[:10]
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        scores.append(dcg / idcg if idcg else 0.0)
    return float(np.mean(scores))


def ndcg_checked(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    """Our nDCG@10, cross-checked against ranx when it is installed."""
    ours = ndcg_at_10(run, qrels)
    try:
        from ranx import Qrels, Run, evaluate
    except ImportError:
        return ours
    ranx_run = {q: {d: float(10 - i) for i, d in enumerate(ds[:10])} for q, ds in run.items()}
    theirs = float(evaluate(Qrels(qrels), Run(ranx_run), "ndcg@10"))
    assert abs(theirs - ours) < 1e-6, (theirs, ours)
    return ours


def load(backend: str, data_dir: Path, batch_size: int, threads: int) -> tuple[object, float]:
    t0 = time.perf_counter()
    if backend == "torch":
        enc: object = SentenceTransformerEncoder(batch_size=batch_size, threads=threads, query_cache_size=0)
    else:
        enc = OnnxEncoder(
            backend=backend, data_dir=data_dir, batch_size=batch_size, threads=threads, query_cache_size=0
        )
    return enc, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="corpus subset size (0: all 5,183)")
    parser.add_argument("--queries", type=int, default=300, help="test queries (0: all 300)")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: cores available)")
    parser.add_argument("--slices", type=int, default=4, help="interleaved throughput slices")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    apply_offline_defaults()
    backends = args.backends.split(",")
    ids, texts, queries, qrels = load_scifact(args.docs, args.queries)
    print(f"SciFact: {len(texts)} docs, {len(queries)} queries, threads={resolve_threads(args.threads)}", flush=True)
    results: dict[str, dict[str, float]] = {b: {} for b in backends}
    with tempfile.TemporaryDirectory() as tmp:
        encoders = {}
        for b in backends:
            encoders[b], results[b]["export_s"] = load(b, Path(tmp), args.batch_size, args.threads)
        for b in backends:
            results[b]["cached_load_s"] = load(b, Path(tmp), args.batch_size, args.threads)[1]
        # throughput, interleaved slices (longest texts mixed into every slice)
        order = np.random.default_rng(0).permutation(len(texts))
        vectors = {b: np.zeros((len(texts), 384), dtype=np.float32) for b in backends}
        spent = dict.fromkeys(backends, 0.0)
        for part in np.array_split(order, args.slices):
            batch = [texts[i] for i in part]
            for b in backends:
                t0 = time.perf_counter()
                vectors[b][part] = encoders[b].encode(batch)  # type: ignore[attr-defined]
                spent[b] += time.perf_counter() - t0
        t0 = time.perf_counter()
        sparse = Bm25Encoder().encode(texts)
        bm25_s = time.perf_counter() - t0
        # query latency, interleaved, after a warm-up
        qtexts = list(queries.values())
        lat: dict[str, list[float]] = {b: [] for b in backends}
        cpu: dict[str, list[float]] = {b: [] for b in backends}  # process CPU time: robust to a loaded machine
        for q in qtexts[:10]:
            for b in backends:
                encoders[b].encode([q])  # type: ignore[attr-defined]
        for q in qtexts:
            for b in backends:
                t0, c0 = time.perf_counter(), time.process_time()
                encoders[b].encode([q])  # type: ignore[attr-defined]
                lat[b].append((time.perf_counter() - t0) * 1000)
                cpu[b].append((time.process_time() - c0) * 1000)
        bm25 = Bm25Encoder()
        for b in backends:
            enc = encoders[b]
            qvecs = enc.encode(qtexts)  # type: ignore[attr-defined]
            top = np.argsort(-(qvecs @ vectors[b].T), axis=1)[:, :10]
            dense_run = {q: [ids[i] for i in row] for q, row in zip(queries, top, strict=True)}
            index = EdgeIndex(Path(tmp) / "index", f"bench-{b.replace('-', '_')}")
            index.ensure(CollectionSpec(dense_size=384, encoder=b))
            points = [
                IndexPoint(str(uuid.uuid5(uuid.NAMESPACE_URL, d)), v.tolist(), s, {"doc_id": d})
                for d, v, s in zip(ids, vectors[b], sparse, strict=True)
            ]
            t0 = time.perf_counter()
            for start in range(0, len(points), 256):
                index.upsert(points[start : start + 256])
            upsert_s = time.perf_counter() - t0
            hybrid_run = {}
            for (q, text), vec in zip(queries.items(), qvecs, strict=True):
                hits = index.query(SearchQuery("hybrid", 10, dense=vec.tolist(), sparse=bm25.encode_query(text)))
                hybrid_run[q] = [h.payload["doc_id"] for h in hits]
            index.close()
            results[b].update(
                texts_per_s=len(texts) / spent[b],
                ingest_docs_per_s=len(texts) / (spent[b] + bm25_s + upsert_s),
                query_p50_ms=statistics.median(lat[b]),
                query_p95_ms=float(np.percentile(lat[b], 95)),
                query_cpu_p50_ms=statistics.median(cpu[b]),
                ndcg10_dense=ndcg_checked(dense_run, qrels),
                ndcg10_hybrid=ndcg_checked(hybrid_run, qrels),
                min_cosine_to_torch=float(np.min(np.sum(vectors[b] * vectors[backends[0]], axis=1))),
            )
    base = results[backends[0]]
    print(
        f"\n| backend | texts/s | × {backends[0]} | embed+index docs/s | × | query p50 ms | p95 ms | "
        "query CPU p50 ms | nDCG@10 dense | Δ | nDCG@10 hybrid | Δ | min cos | first load s | cached load s |"
    )
    print("|---" * 15 + "|")
    for b in backends:
        r = results[b]
        print(
            f"| {b} | {r['texts_per_s']:.1f} | {r['texts_per_s'] / base['texts_per_s']:.2f} | "
            f"{r['ingest_docs_per_s']:.1f} | {r['ingest_docs_per_s'] / base['ingest_docs_per_s']:.2f} | "
            f"{r['query_p50_ms']:.2f} | {r['query_p95_ms']:.2f} | {r['query_cpu_p50_ms']:.2f} | "
            f"{r['ndcg10_dense']:.4f} | "
            f"{r['ndcg10_dense'] - base['ndcg10_dense']:+.4f} | {r['ndcg10_hybrid']:.4f} | "
            f"{r['ndcg10_hybrid'] - base['ndcg10_hybrid']:+.4f} | {r['min_cosine_to_torch']:.5f} | "
            f"{r['export_s']:.1f} | {r['cached_load_s']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"docs": len(texts), "queries": len(queries), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
