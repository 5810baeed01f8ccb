"""Judge a trained reranker on held-out queries: nDCG@10 of the collection's hybrid search without reranking and
with the reranker over its top ``depth`` chunks, at each blend share (``retrieval.rerank.blend``), per query so
the gain gets a paired bootstrap confidence interval. Search's own fusion, blend and language guard are used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evals.beir import BeirDataset
from evals.encoder_pairs import chunk_texts
from evals.encoder_tuning import K, access
from evals.retrieval_eval import DEEP, Run
from evals.tuning import (
    QueryLists,
    bootstrap_ci,
    collect_lists,
    default_candidate,
    documents,
    mean,
    ndcg_per_query,
)
from retrieval.fusion import fuse
from retrieval.rerank import blend
from retrieval.retriever import dense_reads

BLENDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class RerankEval:
    queries: int
    depth: int
    baseline: float  # nDCG@10 without reranking
    by_blend: dict[float, float]  # nDCG@10 with reranking, per blend share
    per_query: dict[str, dict[str, float]]  # "none" and each blend (as str) -> query id -> nDCG@10
    seconds_per_query: float  # reranking only

    def best_blend(self) -> float:
        """The blend share with the highest nDCG@10 (the smallest share on ties: trust the reranker)."""
        return max(sorted(self.by_blend), key=lambda b: (self.by_blend[b], -b))

    def gain(self, share: float) -> tuple[float, tuple[float, float]]:
        """Mean nDCG@10 gain of reranking at ``share`` over no reranking, and its 95% bootstrap interval."""
        none, ranked = self.per_query["none"], self.per_query[str(share)]
        diffs = [ranked[q] - none[q] for q in none]
        return round(mean(diffs), 4), bootstrap_ci(diffs)

    def as_json(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "depth": self.depth,
            "no_rerank": round(self.baseline, 4),
            "rerank": {str(b): round(v, 4) for b, v in self.by_blend.items()},
            "ms_per_query": round(self.seconds_per_query * 1000, 1),
        }


def evaluate_reranker(
    retriever: Any,
    reranker: Any,
    dataset: BeirDataset,
    to_doc: Callable[[str], str | None],
    depth: int,
    blends: Sequence[float] = BLENDS,
    progress: Callable[[int, int], None] | None = None,
) -> RerankEval:
    """No reranking vs ``reranker`` (a ``retrieval.rerank.Reranker``) over the top ``depth`` fused chunks."""
    import time

    candidate = default_candidate(retriever.settings)
    lists = collect_lists(retriever, dataset, to_doc, access(), max(DEEP, candidate.prefetch))
    heads = {c for q in lists.lists.values() for c, _ in _first_stage(q, candidate, lists.languages)[:depth]}
    texts = chunk_texts(retriever.index, sorted(heads), lambda _: None)
    baseline: Run = {}
    runs: dict[float, Run] = {b: {} for b in blends}
    spent = 0.0
    for i, (qid, q) in enumerate(lists.lists.items(), 1):
        ranked = _first_stage(q, candidate, lists.languages)
        baseline[qid] = documents(ranked, lists.chunk_doc)
        head, tail = ranked[:depth], ranked[depth:]
        t0 = time.perf_counter()
        scores = reranker.score(dataset.queries[qid], [texts.get(c, "") for c, _ in head], math.inf)
        spent += time.perf_counter() - t0
        for share in blends:
            final = blend(scores, [s for _, s in head], share)
            order = sorted(zip(head, final, strict=True), key=lambda x: (-x[1], x[0][0]))
            runs[share][qid] = documents([c for c, _ in order] + list(tail), lists.chunk_doc)
        if progress is not None:
            progress(i, len(lists.lists))
    per_query = {"none": ndcg_per_query(lists, baseline, K)}
    per_query.update({str(b): ndcg_per_query(lists, run, K) for b, run in runs.items()})
    n = max(1, len(lists.lists))
    return RerankEval(
        queries=len(lists.lists),
        depth=depth,
        baseline=mean(list(per_query["none"].values())),
        by_blend={b: mean(list(per_query[str(b)].values())) for b in blends},
        per_query=per_query,
        seconds_per_query=spent / n,
    )


def _first_stage(q: QueryLists, candidate: Any, languages: tuple[str, ...]) -> list[tuple[str, float]]:
    """The chunks search would rerank, best first: the fused list, or BM25 alone for a query dense cannot read."""
    if not dense_reads(q.lang, languages):
        return list(q.sparse)
    c = candidate
    return [(f.id, f.score) for f in fuse(q.dense[: c.prefetch], q.sparse[: c.prefetch], c.params)]
