"""Tuning hybrid fusion on a collection's own judged queries, and measuring fusion rules offline.

Each query is run once: its dense and its BM25 list (``MAX_PREFETCH`` chunks each) are kept. Every fusion
candidate (method, weights, prefetch depth) is then scored from those lists with the same ``retrieval.fusion``
code search runs, so a grid of a hundred candidates costs one pass of retrieval. The queries are split by
sha256 of their id into a tuning part and a held-out part; the best candidate on the tuning part is compared
with the untuned default on the held-out part (paired bootstrap confidence interval of the nDCG@k gain).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from citewise.errors import InvalidRequest
from citewise.language import UNDETERMINED
from citewise.settings import RetrievalSettings
from evals.beir import BeirDataset, Qrels
from evals.retrieval_eval import DEEP, Run, evaluate_run
from retrieval.fusion import FusionParams, fuse
from retrieval.retriever import dense_reads

MAX_PREFETCH = 200
PREFETCHES = (50, 100, 200)
DENSE_SHARES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # dense weight / (dense + sparse weight)
HELD_OUT = 0.3


@dataclass(frozen=True)
class QueryLists:
    dense: list[tuple[str, float]]  # (chunk id, score), best first
    sparse: list[tuple[str, float]]
    lang: str = UNDETERMINED  # the query's language, as search detects it


@dataclass(frozen=True)
class ListSet:
    """Every query's two ranked lists, how chunks map to corpus ids, and the judgments."""

    name: str
    lists: dict[str, QueryLists]
    chunk_doc: dict[str, str]
    qrels: Qrels
    languages: tuple[str, ...] = ("*",)  # what the dense encoder reads: hybrid is BM25 alone for other queries


@dataclass(frozen=True)
class Candidate:
    params: FusionParams
    prefetch: int

    @property
    def label(self) -> str:
        p = self.params
        share = p.weights[0] / sum(p.weights)
        extra = f" k={p.rrf_k}" if p.method == "rrf" else f" {p.norm}" if p.method == "convex" else ""
        return f"{p.method}{extra} dense={share:.2f} prefetch={self.prefetch}"

    def settings(self) -> dict[str, Any]:
        """The ``RetrievalSettings`` fields this candidate sets (what a profile stores)."""
        p = self.params
        return {
            "fusion": p.method,
            "fusion_norm": p.norm,
            "weights": list(p.weights),
            "rrf_k": p.rrf_k,
            "prefetch_limit": self.prefetch,
        }


def default_candidate(cfg: RetrievalSettings | None = None) -> Candidate:
    """What an untuned search runs with."""
    cfg = cfg or RetrievalSettings()
    params = FusionParams(cfg.fusion, cfg.weights or (1.0, 1.0), cfg.rrf_k, cfg.fusion_norm)
    return Candidate(params, cfg.prefetch_limit)


def grid(prefetches: Sequence[int] = PREFETCHES) -> list[Candidate]:
    """RRF (k 10 and 60), DBSF, convex (min-max and z-score) and adaptive, over dense shares and prefetch depths."""
    out: list[Candidate] = []
    for prefetch in prefetches:
        for share in DENSE_SHARES:
            w = (round(2 * share, 6), round(2 * (1 - share), 6))
            out += [Candidate(FusionParams("rrf", w, rrf_k=k), prefetch) for k in (10, 60)]
            out += [Candidate(FusionParams("dbsf", w), prefetch), Candidate(FusionParams("adaptive", w), prefetch)]
            out += [Candidate(FusionParams("convex", w, norm=n), prefetch) for n in ("minmax", "zscore")]
    return out


def collect_lists(
    retriever: Any,
    dataset: BeirDataset,
    to_doc: Callable[[str], str | None],
    filters: Any = None,
    depth: int = MAX_PREFETCH,
    progress: Callable[[int, int], None] | None = None,
) -> ListSet:
    """Encode and run every query of ``dataset`` once in each mode; keep ``depth`` chunks of each list."""
    lists: dict[str, QueryLists] = {}
    chunk_doc: dict[str, str] = {}
    for i, (qid, text) in enumerate(dataset.queries.items(), 1):
        dense_vec = retriever.dense.encode_query(text).tolist()
        lang = retriever.query_language(text)
        sparse_vec = retriever.sparse.encode_query(text, lang)
        dense, sparse = retriever.lists(dense_vec, sparse_vec, filters, depth)
        for record in dense + sparse:
            doc = to_doc(str(record.payload.get("source", "")))
            if doc is not None:
                chunk_doc[record.id] = doc
        lists[qid] = QueryLists([(r.id, r.score) for r in dense], [(r.id, r.score) for r in sparse], lang)
        if progress is not None:
            progress(i, len(dataset.queries))
    return ListSet(dataset.name, lists, chunk_doc, dataset.qrels, tuple(retriever.languages))


def run_of(ls: ListSet, what: Candidate | str, qids: Sequence[str] | None = None) -> Run:
    """A document-level run: ``what`` is a fusion candidate, or ``dense`` / ``sparse`` for one list alone.

    A candidate runs as search does: BM25 alone for a query the dense encoder does not read (``ls.languages``)."""
    if isinstance(what, str):
        return run_with(ls, lambda q: q.dense if what == "dense" else q.sparse, qids, guard=False)
    c = what

    def fused(q: QueryLists) -> Sequence[tuple[str, float]]:
        return [(f.id, f.score) for f in fuse(q.dense[: c.prefetch], q.sparse[: c.prefetch], c.params)]

    return run_with(ls, fused, qids)


def run_with(
    ls: ListSet,
    rank: Callable[[QueryLists], Sequence[tuple[str, float]]],
    qids: Sequence[str] | None = None,
    guard: bool = True,
) -> Run:
    """A document-level run of any ranking rule over the kept lists (``guard``: BM25 alone where search would)."""
    run: Run = {}
    for qid in qids if qids is not None else ls.lists:
        q = ls.lists[qid]
        ranked = q.sparse if guard and not dense_reads(q.lang, ls.languages) else rank(q)
        run[qid] = documents(ranked, ls.chunk_doc)
    return run


def documents(ranked: Sequence[tuple[str, float]], chunk_doc: dict[str, str]) -> dict[str, float]:
    """Corpus ids in the order of their best chunk, with strictly decreasing pseudo-scores (rank-preserving)."""
    out: dict[str, float] = {}
    for chunk, _ in ranked:
        doc = chunk_doc.get(chunk)
        if doc is not None and doc not in out:
            out[doc] = float(DEEP * 10 - len(out))
            if len(out) >= DEEP:
                break
    return out


def ndcg_per_query(ls: ListSet, run: Run, k: int = 10) -> dict[str, float]:
    qrels = {q: ls.qrels[q] for q in run}
    _, per_query = evaluate_run(qrels, run, k)
    return {q: v[f"ndcg@{k}"] for q, v in per_query.items()}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def split_queries(qids: Sequence[str], held_out: float = HELD_OUT) -> tuple[list[str], list[str]]:
    """(tuning part, held-out part), by sha256 of the query id: the same split on every run."""
    ranked = sorted(qids, key=lambda q: hashlib.sha256(q.encode("utf-8")).hexdigest())
    cut = max(1, round(len(ranked) * held_out))
    if len(ranked) - cut < 1:
        raise InvalidRequest(f"{len(ranked)} judged queries are too few to tune on; pass a set with at least 4")
    return sorted(ranked[cut:]), sorted(ranked[:cut])


def bootstrap_ci(
    diffs: Sequence[float], resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences (seeded: the same on every run)."""
    if not diffs:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo = means[int((1 - level) / 2 * resamples)]
    hi = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return (round(lo, 6), round(hi, 6))


@dataclass(frozen=True)
class TuneResult:
    default: Candidate
    best: Candidate  # best on the tuning part
    chosen: Candidate  # best, or the default when best loses to it on the held-out part
    tuning_queries: int
    held_out_queries: int
    tuning: dict[str, float]  # nDCG@k on the tuning part: default, best
    held_out: dict[str, float]  # nDCG@k on the held-out part: default, best, dense, sparse
    gain: float  # held-out best - default
    ci: tuple[float, float]
    top: list[tuple[str, float]]  # the leading candidates on the tuning part

    def as_json(self) -> dict[str, Any]:
        return {
            "default": self.default.label,
            "best": self.best.label,
            "chosen": self.chosen.label,
            "kept_default": self.chosen == self.default,
            "queries": {"tuning": self.tuning_queries, "held_out": self.held_out_queries},
            "ndcg_tuning": self.tuning,
            "ndcg_held_out": self.held_out,
            "gain_held_out": self.gain,
            "gain_ci95": list(self.ci),
            "top": [{"candidate": c, "ndcg": v} for c, v in self.top],
        }


def tune(ls: ListSet, candidates: Sequence[Candidate], default: Candidate, k: int = 10) -> TuneResult:
    """Pick the best candidate on the tuning part; judge it against ``default`` on the held-out part."""
    tuning, held = split_queries(sorted(ls.lists))
    scored = {c: mean(list(ndcg_per_query(ls, run_of(ls, c, tuning), k).values())) for c in [default, *candidates]}
    best = max(scored, key=lambda c: (round(scored[c], 9), c == default))  # a tie keeps the default
    on_held = {name: ndcg_per_query(ls, run_of(ls, what, held), k) for name, what in
               (("default", default), ("best", best), ("dense", "dense"), ("sparse", "sparse"))}  # fmt: skip
    diffs = [on_held["best"][q] - on_held["default"][q] for q in held]
    gain = round(mean(diffs), 6)
    top = sorted(scored.items(), key=lambda kv: -kv[1])[:5]
    return TuneResult(
        default=default,
        best=best,
        chosen=best if gain >= 0 else default,
        tuning_queries=len(tuning),
        held_out_queries=len(held),
        tuning={"default": round(scored[default], 6), "best": round(scored[best], 6)},
        held_out={name: round(mean(list(v.values())), 6) for name, v in on_held.items()},
        gain=gain,
        ci=bootstrap_ci(diffs),
        top=[(c.label, round(v, 6)) for c, v in top],
    )
