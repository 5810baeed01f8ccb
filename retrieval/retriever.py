"""The Retriever: encode the query, a dense and a BM25 query, fused client-side (retrieval.fusion), rerank."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from citewise.encoders import (
    Bm25Encoder,
    DenseEncoderProtocol,
    check_collection_encoder,
    encoder_languages,
    load_dense_encoder,
)
from citewise.errors import InvalidRequest
from citewise.index import Filter, Index, Mode, Record, SearchQuery, open_index
from citewise.language import UNDETERMINED, detect, dominant
from citewise.settings import RetrievalSettings, Settings
from citewise.types import Chunk, Hit, SearchResult
from retrieval.fusion import FusionParams, fuse
from retrieval.profile import effective_retrieval
from retrieval.rerank import CrossEncoderReranker, Reranker, RerankerState, blend, rerank, reranker_state

MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")
SIGNALS: tuple[Mode, Mode] = ("dense", "sparse")  # the two ranked lists hybrid fuses
MAX_K = 1000
MAX_QUERY_CHARS = 4000
DOMINANT_LANG_TTL_S = 300.0  # how long the collection's dominant language is cached


class Retriever:
    """Hybrid search over one collection; thread-safe for concurrent ``search`` calls."""

    def __init__(
        self,
        settings: RetrievalSettings,
        index: Index,
        dense: DenseEncoderProtocol,
        sparse: Bm25Encoder,
        reranker: Reranker | None = None,
        origin: str = "settings",
        languages: tuple[str, ...] = ("*",),
    ) -> None:
        self.settings = settings
        self.index = index
        self.dense = dense
        self.sparse = sparse
        self.reranker = reranker
        self.origin = origin  # where the fusion settings came from: settings or the collection's profile
        self.fusion = FusionParams(
            method=settings.fusion,
            weights=settings.weights or (1.0, 1.0),
            rrf_k=settings.rrf_k,
            norm=settings.fusion_norm,
        )
        self.languages = languages  # what the dense encoder understands ("*": any)
        self._dominant: tuple[float, str | None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, collection: str | None = None, index: Index | None = None) -> Retriever:
        """Open the index and load the encoders (and the reranker, lazily) named by ``settings``.

        Fusion settings come from the collection's tuned profile where one exists, unless set explicitly.
        """
        cfg, origin = effective_retrieval(settings, collection or (index.collection if index is not None else None))
        reranker = CrossEncoderReranker(
            cfg.reranker_model,
            device=settings.encoder.device,
            batch_size=cfg.rerank_batch_size,
            max_length=cfg.rerank_max_length,
        )
        opened = index is None
        index = index if index is not None else open_index(settings, collection)
        try:
            dense = load_dense_encoder(settings.encoder, settings.data_dir, index.collection)
            check_collection_encoder(index.spec(), dense, index.collection)  # query vectors from the same backend
        except Exception:
            if opened:
                index.close()
            raise
        return cls(
            cfg, index, dense, Bm25Encoder(), reranker, origin=origin, languages=encoder_languages(settings.encoder)
        )

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
        lang = self.query_language(query)
        chosen, reason = self._language_guard(chosen, lang)
        dense_vec = self.dense.encode_query(query).tolist() if chosen in ("dense", "hybrid") else None
        sparse_vec = self.sparse.encode_query(query, lang) if chosen in ("sparse", "hybrid") else None
        timings["encode"] = _ms(started)
        depth = max(k, self.settings.rerank_depth) if do_rerank and self._can_rerank() else k
        t0 = time.perf_counter()
        prefetch = max(self.settings.prefetch_limit, depth)
        if chosen == "hybrid":
            hits = self._hybrid(dense_vec, sparse_vec, filters, prefetch, depth)
        else:
            single = SearchQuery(mode=chosen, limit=depth, dense=dense_vec, sparse=sparse_vec, filter=filters)
            hits = [_hit(r, chosen) for r in sorted(self.index.query(single), key=lambda r: (-r.score, r.id))]
        timings["retrieve"] = _ms(t0)
        status = "skipped"
        if do_rerank and hits:
            hits, status, timings["rerank"] = self._rerank(query, hits)
        elif do_rerank:
            status = "skipped: no hits"
        timings["total"] = _ms(started)
        fusion: dict[str, Any] = {"mode": chosen}
        if chosen == "hybrid":
            fusion.update(self.fusion.describe(), prefetch=prefetch, origin=self.origin)
        signals = ("dense", "sparse") if chosen == "hybrid" else (chosen,)
        return SearchResult(
            hits=tuple(hits[:k]),
            timings_ms=timings,
            rerank_status=status,
            fusion=fusion,
            query_lang=lang,
            signals=signals,
            signals_reason=reason,
        )

    def lists(
        self, dense: list[float] | None, sparse: Any, filters: Filter | None, prefetch: int
    ) -> tuple[list[Record], list[Record]]:
        """The dense and the BM25 ranked lists (``prefetch`` each, best first, ties by id) that hybrid fuses."""
        dense_list, sparse_list = (
            sorted(
                self.index.query(SearchQuery(mode=mode, limit=prefetch, dense=dense, sparse=sparse, filter=filters)),
                key=lambda r: (-r.score, r.id),
            )
            for mode in SIGNALS
        )
        return dense_list, sparse_list

    def _hybrid(
        self, dense: list[float] | None, sparse: Any, filters: Filter | None, prefetch: int, depth: int
    ) -> list[Hit]:
        """The two lists, fused here; each hit says where it came from."""
        dense_list, sparse_list = self.lists(dense, sparse, filters, prefetch)
        payloads = {r.id: r.payload for r in dense_list + sparse_list}
        fused = fuse([(r.id, r.score) for r in dense_list], [(r.id, r.score) for r in sparse_list], self.fusion, depth)
        return [
            Hit(
                chunk=Chunk.from_payload(payloads[f.id]),
                score=f.score,
                stage_scores={"fused": f.score},
                explain=f.explain.as_json(),
            )
            for f in fused
        ]

    def query_language(self, query: str) -> str:
        """The query's language (ISO 639-1), falling back to the collection's dominant one when unsure."""
        return detect(query, fallback=self.dominant_language()).lang

    def dominant_language(self) -> str | None:
        """The most common language of the collection's chunks (cached for ``DOMINANT_LANG_TTL_S``)."""
        now = time.monotonic()
        if self._dominant is None or now - self._dominant[0] > DOMINANT_LANG_TTL_S:
            try:
                counts = self.index.distinct("lang", limit=1000)  # fewer languages than that exist
            except Exception:  # an index without the field (or unreachable): detect without a fallback
                counts = {}
            self._dominant = (now, dominant(Counter(counts)))
        return self._dominant[1]

    def _language_guard(self, mode: Mode, lang: str) -> tuple[Mode, str]:
        """Hybrid without the dense signal when the encoder does not know the query's language."""
        if mode != "hybrid" or dense_reads(lang, self.languages):
            return mode, ""
        known = ", ".join(self.languages)
        return "sparse", (
            f"query language {lang!r} is not one the dense encoder declares ({known}): BM25 only; "
            "set CITEWISE_ENCODER__MODEL to a multilingual model (or CITEWISE_ENCODER__LANGUAGES) to use both"
        )

    def _check(self, query: str, k: int, mode: str | None) -> Mode:
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
        if isinstance(self.reranker, CrossEncoderReranker):  # resolved on the file system: no load attempt
            state = self.reranker.state()
            if state.state == "unavailable":
                return hits, f"unavailable: {state.reason}", _ms(t0)
        depth = min(len(hits), self.settings.rerank_depth)
        head, tail = hits[:depth], hits[depth:]
        outcome = rerank(self.reranker, query, [h.chunk.text for h in head], self.settings.rerank_budget_ms)
        if outcome.scores is None:
            return hits, outcome.status, _ms(t0)
        final = blend(outcome.scores, [h.score for h in head], self.settings.rerank_blend)
        rescored = [
            Hit(chunk=h.chunk, score=f, stage_scores={**h.stage_scores, "rerank": s}, explain=h.explain)
            for h, s, f in zip(head, outcome.scores, final, strict=True)
        ]
        rescored.sort(key=lambda h: (-h.score, h.chunk_id))
        return rescored + tail, outcome.status, _ms(t0)


def dense_reads(lang: str, languages: tuple[str, ...]) -> bool:
    """Whether a dense encoder declaring ``languages`` ("*": any) reads a query in ``lang`` (undetermined: yes)."""
    return "*" in languages or lang == UNDETERMINED or lang in languages


def check_mode(mode: str) -> Mode:
    """``mode`` as a ``Mode``; ``InvalidRequest`` naming the modes when it is none of them."""
    for known in MODES:
        if mode == known:
            return known
    raise InvalidRequest(f"mode {mode!r} is unknown; use one of {', '.join(MODES)}")


def _hit(record: Record, mode: str) -> Hit:
    return Hit(chunk=Chunk.from_payload(record.payload), score=record.score, stage_scores={mode: record.score})


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
        "ocr": c.ocr,
        "explain": hit.explain,
    }


def result_json(result: SearchResult) -> dict[str, Any]:
    return {
        "hits": [hit_json(h) for h in result.hits],
        "timings_ms": result.timings_ms,
        "rerank_status": result.rerank_status,
        "fusion": result.fusion,
        "query_lang": result.query_lang,
        "signals": list(result.signals),
        "signals_reason": result.signals_reason,
    }
