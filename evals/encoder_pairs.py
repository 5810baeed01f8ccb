"""Training pairs for adapting the dense encoder to a collection, and the held-out queries that judge it.

A pair is (query, positive chunk text, hard negative chunk text):

- **judged queries** (BEIR qrels, a QA file): one pair per relevant document. The positive is that document's
  chunk ranked highest for the query by the collection's own hybrid search (its first chunk when none is
  ranked). The hard negative is the best-ranked chunk of a document *not* judged relevant, skipping the
  first ``skip_top`` fused ranks: those are often relevant but unjudged (false negatives).
- **synthetic queries** (``synthetic_dataset``), offline and without an LLM: for each document's first chunk,
  the query is its first line or sentence (a title, or the lead sentence), and the positive is the rest of
  the chunk, so the model must match a statement to the passage it introduces, not to itself.

Held-out queries never share an id with training queries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest
from citewise.index import Filter, Index, Match
from evals.beir import BeirDataset, BeirDoc, Qrels
from evals.tuning import ListSet, collect_lists, default_candidate
from retrieval.fusion import fuse

SKIP_TOP = 3  # fused ranks never used as negatives (likely unjudged relevant chunks)
NEGATIVE_DEPTH = 30  # negatives come from the fused top-30
SYNTHETIC_MIN_WORDS = (3, 40)  # a synthetic query has 3..40 words
SYNTHETIC_MIN_POSITIVE = 20  # words left in the positive after the query is cut out
HELD_OUT = 0.2


@dataclass(frozen=True)
class TrainingPair:
    query: str
    positive: str
    negative: str | None


def split_ids(ids: Sequence[str], held_out: float = HELD_OUT) -> tuple[list[str], list[str]]:
    """(training part, held-out part) by sha256 of the id: the same split on every run."""
    ranked = sorted(ids, key=lambda q: hashlib.sha256(q.encode("utf-8")).hexdigest())
    cut = max(1, round(len(ranked) * held_out)) if len(ranked) > 1 else 0
    held = set(ranked[:cut])
    return [q for q in ids if q not in held], [q for q in ids if q in held]


def subset(dataset: BeirDataset, qids: Sequence[str], split: str) -> BeirDataset:
    """``dataset`` restricted to the queries ``qids``."""
    keep = [q for q in qids if q in dataset.queries]
    return BeirDataset(
        dataset.name,
        dataset.path,
        split,
        dataset.corpus,
        {q: dataset.queries[q] for q in keep},
        {q: dataset.qrels[q] for q in keep if q in dataset.qrels},
    )


def mine_pairs(
    retriever: Any,
    dataset: BeirDataset,
    to_doc: Callable[[str], str | None],
    doc_source: Callable[[str], str | None],
    filters: Any = None,
    max_pairs: int | None = None,
    skip_top: int = SKIP_TOP,
    progress: Callable[[int, int], None] | None = None,
    negatives: int = 1,
) -> list[TrainingPair]:
    """One (query, positive, hard negative) per relevant document, mined with the collection's hybrid search.

    ``negatives`` > 1: that many triples per (query, positive), each with the next hard negative (a reranker
    learns from a query's positive against several); ``max_pairs`` still counts (query, positive) pairs."""
    if max_pairs is not None:
        dataset = subset(dataset, list(dataset.queries)[:max_pairs], dataset.split)
    lists = collect_lists(retriever, dataset, to_doc, filters, depth=NEGATIVE_DEPTH * 2, progress=progress)
    candidate = default_candidate(retriever.settings)
    wanted: list[tuple[str, str, str | None]] = []  # (query id, positive chunk id or "doc:<id>", negative id)
    positives = 0
    for qid, text in dataset.queries.items():
        relevant = {d for d, rel in dataset.qrels.get(qid, {}).items() if rel > 0}
        fused = _fused(lists, qid, candidate)
        hard: list[str | None] = [c for c in fused[skip_top:NEGATIVE_DEPTH] if lists.chunk_doc.get(c) not in relevant]
        hard = hard[:negatives]
        for doc in sorted(relevant):
            positive = next((c for c in fused if lists.chunk_doc.get(c) == doc), f"doc:{doc}")
            wanted += [(text, positive, negative) for negative in (hard or [None])]
            positives += 1
            if max_pairs is not None and positives >= max_pairs:
                break
        if max_pairs is not None and positives >= max_pairs:
            break
    texts = chunk_texts(retriever.index, [w[1] for w in wanted] + [w[2] for w in wanted if w[2]], doc_source)
    return [TrainingPair(q, texts[p], texts.get(n) if n else None) for q, p, n in wanted if texts.get(p)]


def _fused(lists: ListSet, qid: str, candidate: Any) -> list[str]:
    q = lists.lists[qid]
    return [f.id for f in fuse(q.dense[: candidate.prefetch], q.sparse[: candidate.prefetch], candidate.params)]


def chunk_texts(index: Index, ids: Sequence[str], doc_source: Callable[[str], str | None]) -> dict[str, str]:
    """Chunk id (or ``doc:<corpus id>``: that document's first chunk) -> chunk text."""
    texts: dict[str, str] = {}
    point_ids = sorted({i for i in ids if not i.startswith("doc:")})
    for start in range(0, len(point_ids), 256):
        for record in index.retrieve(point_ids[start : start + 256]):
            texts[record.id] = str(record.payload.get("text", ""))
    for key in sorted({i for i in ids if i.startswith("doc:")}):
        source = doc_source(key[4:])
        if source is None:
            continue
        records, _ = index.scroll(Filter(must=(Match("source", source),)), limit=64)
        if records:
            first = min(records, key=lambda r: int(r.payload.get("chunk_index", 0) or 0))
            texts[key] = str(first.payload.get("text", ""))
    return texts


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def synthetic_query(text: str) -> tuple[str, str] | None:
    """(query, rest of the chunk): the first line when the chunk starts with a title line, else the first
    sentence; None when either part is too short to teach anything."""
    text = text.strip()
    head, sep, rest = text.partition("\n")
    if not sep or len(head.split()) > SYNTHETIC_MIN_WORDS[1]:
        parts = _SENTENCE.split(text, maxsplit=1)
        if len(parts) < 2:
            return None
        head, rest = parts
    head, rest = " ".join(head.split()), rest.strip()
    low, high = SYNTHETIC_MIN_WORDS
    if not low <= len(head.split()) <= high or len(rest.split()) < SYNTHETIC_MIN_POSITIVE:
        return None
    return head, rest


def synthetic_dataset(index: Index, name: str, limit: int | None = None) -> tuple[BeirDataset, dict[str, str]]:
    """A judged set built from the collection itself: one synthetic query per document (its first chunk).

    Returns the set (document ids are the chunks' ``source``) and query id -> positive text (the chunk without
    the query). The corpus of the set is empty: the collection is the corpus.
    """
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    positives: dict[str, str] = {}
    offset: str | None = None
    while True:
        records, offset = index.scroll(limit=512, offset=offset)
        for r in records:
            if int(r.payload.get("chunk_index", 0) or 0) != 0:
                continue
            made = synthetic_query(str(r.payload.get("text", "")))
            source = str(r.payload.get("source", ""))
            if made is None or not source:
                continue
            qid = f"syn-{r.id}"
            queries[qid], positives[qid] = made
            qrels[qid] = {source: 1}
        if offset is None or (limit is not None and len(queries) >= limit):
            break
    if not queries:
        raise InvalidRequest(
            f"no synthetic query could be made from collection {index.collection!r}: its first chunks have no "
            "title line or lead sentence of 3-40 words followed by 20+ words; use --beir or --qa"
        )
    empty: tuple[BeirDoc, ...] = ()
    return BeirDataset(name, Path(index.collection), "synthetic", empty, queries, qrels), positives


def synthetic_pairs(
    retriever: Any,
    dataset: BeirDataset,
    positives: dict[str, str],
    filters: Any = None,
    max_pairs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[TrainingPair]:
    """Synthetic (query, rest of its chunk, hard negative) triples; negatives mined as for judged queries."""
    qids = list(dataset.queries)[: max_pairs or None]
    mined = subset(dataset, qids, "synthetic")
    lists = collect_lists(retriever, mined, lambda s: s, filters, depth=NEGATIVE_DEPTH * 2, progress=progress)
    candidate = default_candidate(retriever.settings)
    negatives: dict[str, str] = {}
    for qid in qids:
        relevant = set(dataset.qrels[qid])
        fused = _fused(lists, qid, candidate)
        neg = next((c for c in fused[SKIP_TOP:NEGATIVE_DEPTH] if lists.chunk_doc.get(c) not in relevant), None)
        if neg is not None:
            negatives[qid] = neg
    texts = chunk_texts(retriever.index, list(negatives.values()), lambda _: None)
    return [TrainingPair(dataset.queries[q], positives[q], texts.get(negatives.get(q, ""))) for q in qids]
