"""Retriever over the real embedded index with hand-made dense vectors (a lookup "encoder") and real BM25.

The vectors are chosen so that the dense and the BM25 rankings disagree, which makes fusion observable:
dense ranks A > C > B, BM25 ranks B > C > A.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from citewise.encoders import Bm25Encoder
from citewise.errors import InvalidRequest
from citewise.index import CollectionSpec, IndexPoint, Record, SearchQuery
from citewise.index_edge import EdgeIndex
from citewise.settings import RetrievalSettings
from citewise.types import Chunk, Hit
from retrieval import Retriever, access_filter
from retrieval.retriever import MAX_K, MAX_QUERY_CHARS

QUERY = "alpha"
# doc -> (text, dense vector); the query's dense vector is (1, 0, 0, 0)
DOCS = {
    "A": ("alpha omega omega omega omega", (1.0, 0.0, 0.0, 0.0)),
    "B": ("alpha alpha alpha", (0.6, 0.8, 0.0, 0.0)),
    "C": ("alpha alpha omega", (0.8, 0.6, 0.0, 0.0)),
}
TIE_TEXT = "zeta zeta"


class LookupEncoder:
    """A deterministic dense "encoder": texts it was told about map to fixed unit vectors."""

    model_id = "lookup"
    dim = 4
    max_seq_length = 64

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in table.items()}
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([self.table[t] for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _chunk(doc_id: str, text: str, tenant: str = "default") -> Chunk:
    return Chunk(doc_id=doc_id, chunk_index=0, text=text, source=f"/t/{doc_id}.txt", title=doc_id,
                 char_start=0, char_end=len(text), tenant=tenant)  # fmt: skip


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeIndex]:
    encoder = LookupEncoder({**{t: v for t, v in DOCS.values()}, QUERY: (1, 0, 0, 0), TIE_TEXT: (0, 0, 1, 0)})
    bm25 = Bm25Encoder()
    idx = EdgeIndex(Path(tmp_path_factory.mktemp("fusion")), "fusion")
    idx.ensure(CollectionSpec(dense_size=4, encoder="lookup"))
    chunks = [_chunk(name, text) for name, (text, _) in DOCS.items()]
    chunks += [_chunk(f"other-{name}", text, tenant="other") for name, (text, _) in DOCS.items()]
    # identical text and vectors: equal scores in every mode; inserted in descending id order
    ties = sorted((_chunk(f"tie{i}", TIE_TEXT, tenant="ties") for i in range(6)), key=lambda c: c.id, reverse=True)
    chunks += ties
    dense = encoder.encode([c.text for c in chunks])
    idx.upsert([IndexPoint(c.id, dense[i], bm25.encode([c.text])[0], c.payload()) for i, c in enumerate(chunks)])
    yield idx
    idx.close()


def make(index: EdgeIndex, **settings: object) -> Retriever:
    """A retriever over the fixture; RRF unless ``fusion`` says otherwise (the default is DBSF)."""
    settings = {"fusion": "rrf", **settings}
    encoder = LookupEncoder({QUERY: (1, 0, 0, 0), TIE_TEXT: (0, 0, 1, 0)})
    return Retriever(RetrievalSettings(**settings), index, encoder, Bm25Encoder())  # type: ignore[arg-type]


def ranked(index: EdgeIndex, mode: str, **settings: object) -> list[tuple[str, float]]:
    result = make(index, **settings).search(QUERY, k=3, filters=access_filter("default"), mode=mode, rerank=False)
    return [(h.doc_id, h.score) for h in result.hits]


def test_dense_and_sparse_rank_by_their_own_scores(index: EdgeIndex) -> None:
    dense = ranked(index, "dense")
    assert [d for d, _ in dense] == ["A", "C", "B"]
    assert [round(s, 4) for _, s in dense] == [1.0, 0.8, 0.6]  # cosine
    assert [d for d, _ in ranked(index, "sparse")] == ["B", "C", "A"]


@pytest.mark.parametrize(("rrf_k", "weights"), [(1, None), (60, None), (2, (1.0, 0.2)), (60, (0.3, 1.5))])
def test_rrf_score_follows_qdrants_formula(index: EdgeIndex, rrf_k: int, weights: tuple[float, float] | None) -> None:
    """Qdrant's RRF: 1 / ((position + 1) / weight + k - 1), positions from 0; unweighted: 1 / (k + position)."""
    dense_pos = {d: r for r, (d, _) in enumerate(ranked(index, "dense"))}
    sparse_pos = {d: r for r, (d, _) in enumerate(ranked(index, "sparse"))}
    w_dense, w_sparse = weights or (1.0, 1.0)
    fused = dict(ranked(index, "hybrid", fusion="rrf", rrf_k=rrf_k, weights=weights))
    assert set(fused) == {"A", "B", "C"}
    for doc, score in fused.items():
        expected = 1 / ((dense_pos[doc] + 1) / w_dense + rrf_k - 1) + 1 / ((sparse_pos[doc] + 1) / w_sparse + rrf_k - 1)
        assert score == pytest.approx(expected, rel=1e-5)


def test_equal_weights_tie_a_and_b_above_c(index: EdgeIndex) -> None:
    # A and B sit at positions 0 and 2 (in opposite lists), C at 1 in both: 2/(k+1) < 1/k + 1/(k+2)
    fused = ranked(index, "hybrid", rrf_k=60)
    assert fused[0][1] == fused[1][1] > fused[2][1] and fused[2][0] == "C"


def test_weights_change_the_order(index: EdgeIndex) -> None:
    assert next(d for d, _ in ranked(index, "hybrid", rrf_k=2, weights=(1.0, 0.2))) == "A"  # dense wins
    assert next(d for d, _ in ranked(index, "hybrid", rrf_k=2, weights=(0.2, 1.0))) == "B"  # BM25 wins


def test_dbsf_fuses_normalized_scores_not_ranks(index: EdgeIndex) -> None:
    rrf = dict(ranked(index, "hybrid", fusion="rrf"))
    dbsf = dict(ranked(index, "hybrid", fusion="dbsf"))
    assert set(dbsf) == {"A", "B", "C"}
    assert all(0.0 <= s <= 2.0 for s in dbsf.values())  # each list is normalized to [0, 1], then summed
    assert dbsf != pytest.approx(rrf)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_ties_come_back_in_chunk_id_order_every_time(index: EdgeIndex, mode: str) -> None:
    retriever = make(index)
    runs = [retriever.search(TIE_TEXT, k=6, filters=access_filter("ties"), mode=mode, rerank=False) for _ in range(3)]
    ids = [h.chunk_id for h in runs[0].hits]
    assert len(ids) == 6 and len({h.score for h in runs[0].hits}) == 1
    assert ids == sorted(ids)
    assert all([h.chunk_id for h in r.hits] == ids for r in runs)


def test_fused_ties_come_back_in_chunk_id_order_every_time(index: EdgeIndex) -> None:
    retriever = make(index)
    runs = [retriever.search(QUERY, k=3, filters=access_filter("default"), rerank=False) for _ in range(3)]
    a_b = runs[0].hits[:2]
    assert a_b[0].score == a_b[1].score and {h.doc_id for h in a_b} == {"A", "B"}
    assert a_b[0].chunk_id < a_b[1].chunk_id
    # chunks tied in both lists get distinct RRF positions from the engine; the order is still stable
    ties = [retriever.search(TIE_TEXT, k=6, filters=access_filter("ties"), rerank=False) for _ in range(3)]
    assert len(ties[0].hits) == 6 and len({tuple(h.chunk_id for h in r.hits) for r in ties}) == 1
    assert all([h.chunk_id for h in r.hits] == [h.chunk_id for h in runs[0].hits] for r in runs)


def test_tenant_sees_only_its_own_chunks(index: EdgeIndex) -> None:
    retriever = make(index)
    for mode in ("dense", "sparse", "hybrid"):
        other = retriever.search(QUERY, k=10, filters=access_filter("other"), mode=mode, rerank=False)
        assert sorted(h.doc_id for h in other.hits) == ["other-A", "other-B", "other-C"]
        assert retriever.search(QUERY, k=10, filters=access_filter("nobody"), mode=mode, rerank=False).hits == ()


def test_result_shape(index: EdgeIndex) -> None:
    result = make(index, fusion="rrf").search(QUERY, k=2, filters=access_filter("default"), rerank=False)
    assert len(result.hits) == 2
    assert set(result.timings_ms) == {"encode", "retrieve", "total"}
    assert result.rerank_status == "skipped"
    hit = result.hits[0]
    assert set(hit.stage_scores) == {"fused"} and hit.stage_scores["fused"] == hit.score
    assert hit.chunk.text == DOCS[hit.doc_id][0]


class SpyIndex:
    """The fixture's index, recording what hybrid search asks of it; ``drop`` ids vanish before ``retrieve``."""

    def __init__(self, index: EdgeIndex, drop: tuple[str, ...] = ()) -> None:
        self.index, self.drop = index, drop
        self.collection = index.collection
        self.queries: list[SearchQuery] = []
        self.retrieved: list[list[str]] = []

    def query_many(self, queries: Sequence[SearchQuery]) -> list[list[Record]]:
        self.queries.extend(queries)
        return self.index.query_many(queries)

    def retrieve(self, ids: Sequence[str]) -> list[Record]:
        self.retrieved.append(list(ids))
        return self.index.retrieve([i for i in ids if i not in self.drop])


def test_hybrid_fetches_payloads_of_the_returned_hits_only(index: EdgeIndex) -> None:
    spy = SpyIndex(index)
    retriever = Retriever(RetrievalSettings(fusion="dbsf"), spy, LookupEncoder({QUERY: (1, 0, 0, 0)}), Bm25Encoder())  # type: ignore[arg-type]
    result = retriever.search(QUERY, k=2, filters=access_filter("default"), mode="hybrid", rerank=False)
    assert [q.mode for q in spy.queries] == ["dense", "sparse"]
    assert all(q.with_payload is False for q in spy.queries)
    assert spy.retrieved == [[h.chunk_id for h in result.hits]]
    assert [h.doc_id for h in result.hits] == [h.doc_id for h in ranked_hits(index, k=2)]
    assert all(h.chunk.text == DOCS[h.doc_id][0] for h in result.hits)


def test_query_many_returns_what_each_query_returns(index: EdgeIndex) -> None:
    bm25, flt = Bm25Encoder(), access_filter("default")
    queries = [
        SearchQuery(mode="dense", limit=3, dense=(1.0, 0.0, 0.0, 0.0), filter=flt, with_payload=False),
        SearchQuery(mode="sparse", limit=3, sparse=bm25.encode_query(QUERY), filter=flt),
    ]
    assert index.query_many(queries) == [index.query(q) for q in queries]
    assert all(r.payload == {} for r in index.query_many(queries)[0])


def test_a_chunk_deleted_between_search_and_fetch_is_left_out(index: EdgeIndex) -> None:
    full = ranked_hits(index, k=3)
    spy = SpyIndex(index, drop=(full[0].chunk_id,))
    retriever = Retriever(RetrievalSettings(fusion="dbsf"), spy, LookupEncoder({QUERY: (1, 0, 0, 0)}), Bm25Encoder())  # type: ignore[arg-type]
    result = retriever.search(QUERY, k=3, filters=access_filter("default"), mode="hybrid", rerank=False)
    assert [h.doc_id for h in result.hits] == [h.doc_id for h in full[1:]]


def ranked_hits(index: EdgeIndex, k: int) -> list[Hit]:
    result = make(index, fusion="dbsf").search(QUERY, k=k, filters=access_filter("default"), rerank=False)
    return list(result.hits)


def test_rerank_requested_without_a_reranker_keeps_the_fused_order(index: EdgeIndex) -> None:
    plain = make(index).search(QUERY, k=3, filters=access_filter("default"), rerank=False)
    asked = make(index).search(QUERY, k=3, filters=access_filter("default"), rerank=True)
    assert asked.rerank_status == "unavailable: no reranker configured"
    assert [h.chunk_id for h in asked.hits] == [h.chunk_id for h in plain.hits]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "  "}, "the query is empty"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "the limit is"),
        ({"query": QUERY, "k": 0}, f"use 1..{MAX_K}"),
        ({"query": QUERY, "k": MAX_K + 1}, f"use 1..{MAX_K}"),
        ({"query": QUERY, "mode": "semantic"}, "use one of dense, sparse, hybrid"),
    ],
)
def test_bad_requests_are_explained(index: EdgeIndex, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        make(index).search(**kwargs)  # type: ignore[arg-type]
