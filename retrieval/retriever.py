"""The Retriever: encode the query, one hybrid Qdrant query (dense + BM25 prefetch, fused), optional rerank."""

from __future__ import annotations

import time
from typing import Any, Literal

from citewise.encoders import Bm25Encoder, DenseEncoderProtocol, check_collection_encoder, load_dense_encoder
from citewise.errors import InvalidRequest
from citewise.index import Filter, Index, Record, SearchQuery, open_index
from citewise.settings import RetrievalSettings, Settings
from citewise.types import Chunk, Hit, SearchResult
from retrieval.rerank import CrossEncoderReranker, Reranker, RerankerState, rerank, reranker_state

Mode = Literal["dense", "sparse", "hybrid"]
MODES: tuple[str, ...] = ("dense", "sparse", "hybrid")
MAX_K = 1000
MAX_QUERY_CHARS = 4000


class Retriever:
    """Hybrid search over one collection; thread-safe for concurrent ``search`` calls."""

    def __init__(
        self,
        settings: RetrievalSettings,
        index: Index,
        dense: DenseEncoderProtocol,
        sparse: Bm25Encoder,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.dense = dense
        self.sparse = sparse
        self.reranker = reranker

    @classmethod
    def from_settings(cls, settings: Settings, collection: str | None = None, index: Index | None = None) -> Retriever:
        """Open the index and load the encoders (and the reranker, lazily) named by ``settings``."""
        cfg = settings.retrieval
        reranker = CrossEncoderReranker(
            cfg.reranker_model,
            device=settings.encoder.device,
            batch_size=cfg.rerank_batch_size,
            max_length=cfg.rerank_max_length,
        )
        opened = index is None
        index = index if index is not None else open_index(settings, collection)
        try:
            dense = load_dense_encoder(settings.encoder, settings.data_dir)
            check_collection_encoder(index.spec(), dense, index.collection)  # query vectors from the same backend
        except Exception:
            if opened:
                index.close()
            raise
        return cls(cfg, index, dense, Bm25Encoder(), reranker)

    def reranker_state(self) -> RerankerState:
        """``ready``, ``found``, ``unavailable`` (with the reason) or ``disabled``; resolves cheaply, never loads."""
        if self.reranker is not None and not isinstance(self.reranker, CrossEncoderReranker):
            return RerankerState("ready" if self.settings.rerank else "disabled", type(self.reranker).__name__)
        return reranker_state(self.settings.rerank, self.reranker)

    def _can_rerank(self) -> bool:
        return self.reranker is not None and self.reranker_state().state in ("ready", "found")

    def warm_up(self) -> None:
        """Load the models and run each once now, so the first request does not pay for it (nor its rerank budget)."""
        self.dense.encode_query("warm up")
        self.sparse.encode_query("warm up")
        if self.reranker is not None and self.settings.rerank:
            rerank(self.reranker, "warm up", ["warm up"], budget_ms=600_000.0)  # loads it; never raises

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filter | None = None,
        mode: str | None = None,
        rerank: bool | None = None,
    ) -> SearchResult:
        """Top ``k`` chunks for ``query``; ``timings_ms`` per stage and ``rerank_status`` say what happened."""
        chosen = self._check(query, k, mode)
        do_rerank = self.settings.rerank if rerank is None else rerank
        timings: dict[str, float] = {}
        started = time.perf_counter()
        dense_vec = self.dense.encode_query(query).tolist() if chosen in ("dense", "hybrid") else None
        sparse_vec = self.sparse.encode_query(query) if chosen in ("sparse", "hybrid") else None
        timings["encode"] = _ms(started)
        depth = max(k, self.settings.rerank_depth) if do_rerank and self._can_rerank() else k
        t0 = time.perf_counter()
        records = self.index.query(
            SearchQuery(
                mode=chosen,  # type: ignore[arg-type]
                limit=depth,
                dense=dense_vec,
                sparse=sparse_vec,
                filter=filters,
                fusion=self.settings.fusion,
                rrf_k=self.settings.rrf_k,
                weights=self.settings.weights,
                prefetch_limit=max(self.settings.prefetch_limit, depth),
            )
        )
        timings["retrieve"] = _ms(t0)
        hits = [_hit(r, chosen) for r in sorted(records, key=lambda r: (-r.score, r.id))]
        status = "skipped"
        if do_rerank and hits:
            hits, status, timings["rerank"] = self._rerank(query, hits)
        elif do_rerank:
            status = "skipped: no hits"
        timings["total"] = _ms(started)
        return SearchResult(hits=tuple(hits[:k]), timings_ms=timings, rerank_status=status)

    def _check(self, query: str, k: int, mode: str | None) -> str:
        if not query or not query.strip():
            raise InvalidRequest("the query is empty; pass some words to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"the query has {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        if not 1 <= k <= MAX_K:
            raise InvalidRequest(f"k={k} is out of range; use 1..{MAX_K}")
        return check_mode(mode or self.settings.mode)

    def _rerank(self, query: str, hits: list[Hit]) -> tuple[list[Hit], str, float]:
        t0 = time.perf_counter()
        if self.reranker is None:
            return hits, "unavailable: no reranker configured", _ms(t0)
        depth = min(len(hits), self.settings.rerank_depth)
        head, tail = hits[:depth], hits[depth:]
        outcome = rerank(self.reranker, query, [h.chunk.text for h in head], self.settings.rerank_budget_ms)
        if outcome.scores is None:
            return hits, outcome.status, _ms(t0)
        rescored = [
            Hit(chunk=h.chunk, score=s, stage_scores={**h.stage_scores, "rerank": s})
            for h, s in zip(head, outcome.scores, strict=True)
        ]
        rescored.sort(key=lambda h: (-h.score, h.chunk_id))
        return rescored + tail, outcome.status, _ms(t0)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidRequest(f"mode {mode!r} is unknown; use one of {', '.join(MODES)}")
    return mode


def _hit(record: Record, mode: str) -> Hit:
    stage = {"dense": "dense", "sparse": "sparse", "hybrid": "fused"}[mode]
    return Hit(chunk=Chunk.from_payload(record.payload), score=record.score, stage_scores={stage: record.score})


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 3)


def hit_json(hit: Hit) -> dict[str, Any]:
    """The public JSON form of a hit (CLI ``--json`` and the API share it)."""
    c = hit.chunk
    return {
        "doc_id": c.doc_id,
        "chunk_id": hit.chunk_id,
        "score": hit.score,
        "stage_scores": hit.stage_scores,
        "source": c.source,
        "title": c.title,
        "heading_path": list(c.heading_path),
        "page_start": c.page_start,
        "page_end": c.page_end,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "file_type": c.file_type,
        "tags": c.tags,
        "text": c.text,
    }


def result_json(result: SearchResult) -> dict[str, Any]:
    return {
        "hits": [hit_json(h) for h in result.hits],
        "timings_ms": result.timings_ms,
        "rerank_status": result.rerank_status,
    }
