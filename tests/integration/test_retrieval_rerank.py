"""The reranker path for real: a small CrossEncoder built here (SciFact train pairs), loaded by path.

Covers scores, reordering, depth, the time budget (``timeout``) and the ``unavailable: <reason>`` fallback,
on the real embedded index with the real MiniLM and BM25 encoders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citewise.encoders import collection_spec
from citewise.index import open_index
from citewise.settings import Settings, load_settings
from retrieval import Retriever, access_filter
from retrieval.rerank import _FAILURES, CrossEncoderReranker
from tests.paths import SCIFACT, require, scifact_docs
from tests.retrieval_support import build_cross_encoder, points_for, scifact_chunk

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_QUERIES = 4
DEPTH = 6
MAX_LENGTH = 64  # what the small cross-encoder was fitted with
NO_LIMIT_MS = 600_000.0  # tests that expect "ok" must not depend on the machine's speed; the budget has its own test


def _train_queries() -> list[tuple[str, set[str]]]:
    """The first SciFact train claims with their relevant abstracts."""
    texts = {q["_id"]: q["text"] for q in map(json.loads, require(SCIFACT / "queries.jsonl").open())}
    relevant: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        qid, doc, score = line.split("\t")
        if int(score) > 0:
            relevant.setdefault(qid, set()).add(doc)
    return [(texts[qid], docs) for qid, docs in list(relevant.items())[:N_QUERIES]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[dict[str, Any]]:
    """An index of the train claims' relevant abstracts plus distractors, and a cross-encoder fitted on them."""
    root = tmp_path_factory.mktemp("rerank")
    queries = _train_queries()
    wanted = set().union(*(docs for _, docs in queries))
    docs, others = [], []
    for doc in scifact_docs(5183):
        (docs if doc["_id"] in wanted else others).append(doc)
    docs += others[:16]
    settings = load_settings(data_dir=root / "data", encoder={"backend": "torch"})  # as the encoder fixture
    index = open_index(settings)
    index.ensure(collection_spec(dense_encoder))
    index.upsert(points_for([scifact_chunk(d) for d in docs], dense_encoder, bm25_encoder))
    fused = Retriever(settings.retrieval, index, dense_encoder, bm25_encoder)
    texts = {c.doc_id: c.text for c in map(scifact_chunk, docs)}
    pairs: list[tuple[str, str, float]] = []
    for query, relevant in queries:
        seen = {h.doc_id for h in fused.search(query, k=DEPTH, rerank=False).hits} | relevant
        pairs += [(query, texts[doc], 1.0 if doc in relevant else 0.0) for doc in sorted(seen)]
    model_dir = build_cross_encoder(root / "cross-encoder", pairs, max_length=MAX_LENGTH)
    yield {"settings": settings, "index": index, "queries": queries, "model": str(model_dir)}
    index.close()


def retriever(world: dict[str, Any], dense: Any, sparse: Any, **retrieval: Any) -> Retriever:
    base: Settings = world["settings"]
    update = {"reranker_model": world["model"], "rerank_depth": DEPTH, "rerank_max_length": MAX_LENGTH,
              "rerank_budget_ms": NO_LIMIT_MS, **retrieval}  # fmt: skip
    cfg = base.retrieval.model_copy(update=update)
    reranker = CrossEncoderReranker(cfg.reranker_model, batch_size=cfg.rerank_batch_size, max_length=MAX_LENGTH)
    r = Retriever(cfg, world["index"], dense, sparse, reranker)
    r.warm_up()
    return r


def test_scores_come_from_the_cross_encoder(world: dict[str, Any], dense_encoder: Any, bm25_encoder: Any) -> None:
    from sentence_transformers import CrossEncoder

    r = retriever(world, dense_encoder, bm25_encoder)
    query = world["queries"][0][0]
    result = r.search(query, k=DEPTH)
    assert result.rerank_status == "ok" and result.timings_ms["rerank"] > 0
    model = CrossEncoder(world["model"], device="cpu", max_length=MAX_LENGTH)
    expected = model.predict([(query, h.chunk.text) for h in result.hits])
    for hit, score in zip(result.hits, expected, strict=True):
        assert hit.score == pytest.approx(float(score), abs=1e-5)
        assert hit.stage_scores["rerank"] == hit.score and "fused" in hit.stage_scores
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_rerank_reorders_the_fused_head(world: dict[str, Any], dense_encoder: Any, bm25_encoder: Any) -> None:
    r = retriever(world, dense_encoder, bm25_encoder)
    changed = 0
    for query, _ in world["queries"]:
        fused = r.search(query, k=DEPTH, rerank=False)
        reranked = r.search(query, k=DEPTH)
        assert reranked.rerank_status == "ok"
        assert {h.chunk_id for h in reranked.hits} == {h.chunk_id for h in fused.hits}  # same head, new order
        assert [h.score for h in reranked.hits] == sorted((h.score for h in reranked.hits), reverse=True)
        changed += [h.chunk_id for h in reranked.hits] != [h.chunk_id for h in fused.hits]
    assert changed > 0


def test_only_the_top_depth_hits_are_reranked(world: dict[str, Any], dense_encoder: Any, bm25_encoder: Any) -> None:
    r = retriever(world, dense_encoder, bm25_encoder, rerank_depth=3)
    query = world["queries"][1][0]
    fused = r.search(query, k=8, rerank=False)
    reranked = r.search(query, k=8)
    assert reranked.rerank_status == "ok"
    assert all("rerank" in h.stage_scores for h in reranked.hits[:3])
    assert {h.chunk_id for h in reranked.hits[:3]} == {h.chunk_id for h in fused.hits[:3]}
    assert [h.chunk_id for h in reranked.hits[3:]] == [h.chunk_id for h in fused.hits[3:]]
    assert not any("rerank" in h.stage_scores for h in reranked.hits[3:])


def test_budget_exceeded_returns_the_fused_order(world: dict[str, Any], dense_encoder: Any, bm25_encoder: Any) -> None:
    r = retriever(world, dense_encoder, bm25_encoder, rerank_budget_ms=0.001)
    query = world["queries"][2][0]
    result = r.search(query, k=DEPTH)
    assert result.rerank_status == "timeout"
    fused = r.search(query, k=DEPTH, rerank=False)
    assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in fused.hits]
    assert not any("rerank" in h.stage_scores for h in result.hits)


def test_unloadable_model_falls_back_and_says_why(
    world: dict[str, Any], dense_encoder: Any, bm25_encoder: Any, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-cross-encoder")
    cfg = world["settings"].retrieval.model_copy(update={"reranker_model": missing})
    r = Retriever(cfg, world["index"], dense_encoder, bm25_encoder, CrossEncoderReranker(missing))
    r.warm_up()  # a model that cannot load does not stop the start
    query = world["queries"][0][0]
    first = r.search(query, k=DEPTH)
    assert first.rerank_status.startswith(f"unavailable: cannot load reranker {missing!r}")
    assert [h.chunk_id for h in first.hits] == [h.chunk_id for h in r.search(query, k=DEPTH, rerank=False).hits]
    assert (missing, "cpu") in _FAILURES  # remembered: later searches do not try again
    assert r.search(query, k=DEPTH).rerank_status == first.rerank_status


def test_model_is_loaded_once_per_process(world: dict[str, Any]) -> None:
    a, b = CrossEncoderReranker(world["model"]), CrossEncoderReranker(world["model"])
    assert a.load() is b.load()


def test_from_settings_uses_the_configured_reranker(world: dict[str, Any], dense_encoder: Any) -> None:
    update = {"reranker_model": world["model"], "rerank_max_length": MAX_LENGTH, "rerank_budget_ms": NO_LIMIT_MS}
    settings = world["settings"].model_copy(update={"retrieval": world["settings"].retrieval.model_copy(update=update)})
    r = Retriever.from_settings(settings, index=world["index"])
    r.warm_up()
    result = r.search(world["queries"][0][0], k=3, filters=access_filter("default"))
    assert result.rerank_status == "ok"
    assert isinstance(r.reranker, CrossEncoderReranker) and r.reranker.model_name == world["model"]
