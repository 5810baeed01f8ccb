"""Retrieval quality per mode on a BEIR dataset: nDCG@k, Recall@k, Recall@100, MRR@k, MAP@100 (ir-measures), latency.

Chunks are turned into documents by keeping each document's best-ranked chunk (its max score when the
hits are sorted by score). Scores in a run always decrease strictly with rank, also in single precision: a
tie, or a reranked head followed by the fused tail, is resolved by lowering the later score to the next
32-bit float below. trec_eval (under ir-measures) keeps scores as 32-bit floats and breaks ties by doc id, so a
one-ulp step in 64 bits would let it reorder what ranx keeps; this way every tool that sorts by score sees
exactly the ranking the retriever returned.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from citewise.errors import InvalidRequest
from citewise.settings import Settings
from citewise.types import DEFAULT_TENANT, Hit
from evals.beir import BeirDataset, Qrels

MODES: dict[str, tuple[str, bool]] = {
    "dense": ("dense", False),
    "sparse": ("sparse", False),
    "hybrid": ("hybrid", False),
    "hybrid+rerank": ("hybrid", True),
}
DEEP = 100  # Recall@100 and MAP@100 need 100 documents per query
CHUNKS_PER_DOC = 3  # chunks fetched per wanted document, so that ~DEEP distinct documents come back
MAX_CHUNKS = 1000

Run = dict[str, dict[str, float]]  # query id -> corpus id -> score


@dataclass(frozen=True)
class ModeResult:
    mode: str
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    rerank_status: dict[str, int]
    per_query: dict[str, dict[str, float]]
    run: Run = field(repr=False)


def parse_modes(value: str | Sequence[str]) -> list[str]:
    items = [m.strip() for m in (value.split(",") if isinstance(value, str) else value) if m.strip()]
    unknown = [m for m in items if m not in MODES]
    if unknown or not items:
        raise InvalidRequest(f"unknown mode(s) {', '.join(unknown) or '(none)'}; use any of {', '.join(MODES)}")
    return list(dict.fromkeys(items))


def doc_ranking(hits: Sequence[Hit], to_doc: Callable[[str], str | None], depth: int) -> dict[str, float]:
    """Corpus ids in the order of their first (best) chunk, scores strictly decreasing, at most ``depth``."""
    ranking: dict[str, float] = {}
    previous = math.inf
    for hit in hits:
        doc = to_doc(hit.chunk.source)
        if doc is None or doc in ranking:
            continue
        score = float(hit.score)
        if np.float32(score) >= np.float32(previous):
            score = float(np.nextafter(np.float32(previous), np.float32(-math.inf)))
        ranking[doc] = previous = score
        if len(ranking) >= depth:
            break
    return ranking


def measures(k: int) -> dict[str, Any]:
    """Our metric names -> ir-measures measures (trec_eval's definitions; RR@k from the MS MARCO scorer)."""
    from ir_measures import AP, RR, R, nDCG

    return {
        f"ndcg@{k}": nDCG @ k,
        f"recall@{k}": R @ k,
        f"recall@{DEEP}": R @ DEEP,
        f"mrr@{k}": RR @ k,
        f"map@{DEEP}": AP @ DEEP,
    }


def evaluate_run(qrels: Qrels, run: Run, k: int) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query metrics with ir-measures; a query with no results scores 0."""
    import ir_measures

    wanted = measures(k)
    names = {str(m): n for n, m in wanted.items()}
    per_query = {q: dict.fromkeys(wanted, 0.0) for q in qrels}
    answered = {q: r for q, r in run.items() if r and q in qrels}
    if answered:
        evaluator = ir_measures.evaluator(list(wanted.values()), qrels)
        for row in evaluator.iter_calc(answered):
            per_query[row.query_id][names[str(row.measure)]] = float(row.value)
    means = {n: round(float(np.mean([v[n] for v in per_query.values()])), 6) for n in wanted}
    return means, per_query


def run_mode(
    search: Callable[[str, int, str, bool], tuple[Sequence[Hit], str]],
    dataset: BeirDataset,
    to_doc: Callable[[str], str | None],
    mode: str,
    k: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> ModeResult:
    """Run every query of ``dataset`` in ``mode`` through ``search(query, limit, mode, rerank)``."""
    base_mode, rerank = MODES[mode]
    depth = max(k, DEEP)
    limit = min(MAX_CHUNKS, depth * CHUNKS_PER_DOC)
    first = next(iter(dataset.queries.values()))
    search(first, limit, base_mode, rerank)  # warm-up: load models, fill caches, not timed
    run: Run = {}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    for i, (qid, text) in enumerate(dataset.queries.items(), 1):
        started = time.perf_counter()
        hits, status = search(text, limit, base_mode, rerank)
        latencies.append((time.perf_counter() - started) * 1000.0)
        statuses[status.split(":")[0] if status.startswith("unavailable") else status] += 1
        run[qid] = doc_ranking(hits, to_doc, depth)
        if progress is not None:
            progress(mode, i, len(dataset.queries))
    metrics, per_query = evaluate_run(dataset.qrels, run, k)
    lat = np.asarray(latencies)
    latency = {
        "p50": round(float(np.percentile(lat, 50)), 3),
        "p95": round(float(np.percentile(lat, 95)), 3),
        "mean": round(float(lat.mean()), 3),
    }
    return ModeResult(mode, metrics, latency, dict(statuses), per_query, run)


def write_trec(path: Path, run: Run, tag: str) -> None:
    """``qid Q0 docid rank score tag`` lines; scores as Python's shortest exact repr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for qid, ranking in run.items():
            for rank, (doc, score) in enumerate(ranking.items(), 1):
                fh.write(f"{qid} Q0 {doc} {rank} {score!r} {tag}\n")


def run_files(prefix: str, modes: Sequence[str]) -> dict[str, Path]:
    return {m: Path(f"{prefix}.{m}.trec") for m in modes}


@dataclass(frozen=True)
class RetrievalReport:
    dataset: dict[str, object]
    collection: str
    ingest: dict[str, object]
    k: int
    config: dict[str, object]
    modes: tuple[ModeResult, ...]
    queries: dict[str, str]
    qrels: Qrels
    elapsed_s: float


def evaluate_beir(
    settings: Settings,
    path: str | Path,
    split: str = "test",
    modes: Sequence[str] = tuple(MODES),
    k: int = 10,
    collection: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RetrievalReport:
    """Ingest the corpus into its own collection (reused when unchanged), then evaluate each mode."""
    from citewise.encoders import Bm25Encoder, load_dense_encoder
    from citewise.index import open_index
    from evals.beir import load_beir
    from evals.corpus import collection_for, ingest_corpus
    from retrieval import Retriever, access_filter
    from retrieval.rerank import CrossEncoderReranker

    if not 1 <= k <= DEEP:
        raise InvalidRequest(f"--k {k} is out of range; use 1..{DEEP}")
    started = time.perf_counter()
    dataset = load_beir(path, split)
    index = open_index(settings, collection or collection_for(dataset.name))
    try:
        # no query cache: every mode pays for encoding its queries, so latencies compare fairly
        no_cache = settings.encoder.model_copy(update={"query_cache_size": 0})
        dense, sparse = load_dense_encoder(no_cache, settings.data_dir, index.collection), Bm25Encoder()
        corpus = ingest_corpus(settings, dataset.name, dataset.corpus, index, dense, sparse)
        cfg = settings.retrieval
        reranker = CrossEncoderReranker(cfg.reranker_model, device=settings.encoder.device)
        retriever = Retriever(cfg, index, dense, sparse, reranker)
        scope = access_filter(DEFAULT_TENANT)

        def search(query: str, limit: int, mode: str, rerank: bool) -> tuple[Sequence[Hit], str]:
            result = retriever.search(query, k=limit, filters=scope, mode=mode, rerank=rerank)
            return result.hits, result.rerank_status

        results = tuple(run_mode(search, dataset, corpus.doc_id, m, k, progress) for m in parse_modes(modes))
    finally:
        index.close()
    s = corpus.summary
    return RetrievalReport(
        dataset={
            "name": dataset.name,
            "path": str(dataset.path),
            "split": split,
            "queries": len(dataset.queries),
            "documents": len(dataset.corpus),
            "fingerprint": dataset.fingerprint(),
        },
        collection=corpus.collection,
        ingest={
            "ingested": s.files.ingested,
            "changed": s.files.changed,
            "unchanged": s.files.unchanged,
            "removed": corpus.removed,
            "failed": s.files.failed,
            "chunks_added": s.chunks.added,
            "elapsed_s": s.elapsed_s,
        },
        k=k,
        config={
            "encoder": settings.encoder.model,
            "fusion": cfg.fusion,
            "rrf_k": cfg.rrf_k,
            "reranker": cfg.reranker_model,
            "rerank_depth": cfg.rerank_depth,
            "chunk_tokens": settings.ingest.chunk_tokens,
        },
        modes=results,
        queries=dataset.queries,
        qrels=dataset.qrels,
        elapsed_s=round(time.perf_counter() - started, 3),
    )


def report_json(report: RetrievalReport, top: int = 5) -> dict[str, object]:
    """The machine-readable report: per mode metrics, latency, rerank outcomes; flat ``metrics`` for gates."""
    per_query = {
        qid: {
            "query": text,
            "relevant": sorted(report.qrels.get(qid, {})),
            "modes": {
                m.mode: {"metrics": m.per_query[qid], "top": list(m.run.get(qid, {}))[:top]} for m in report.modes
            },
        }
        for qid, text in report.queries.items()
    }
    return {
        "kind": "retrieval",
        "dataset": report.dataset,
        "collection": report.collection,
        "ingest": report.ingest,
        "k": report.k,
        "config": report.config,
        "modes": {
            m.mode: {"metrics": m.metrics, "latency_ms": m.latency_ms, "rerank_status": m.rerank_status}
            for m in report.modes
        },
        "metrics": {f"{m.mode}/{name}": value for m in report.modes for name, value in m.metrics.items()},
        "elapsed_s": report.elapsed_s,
        "per_query": per_query,
    }
