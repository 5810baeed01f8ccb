"""The same operations on the embedded engine (qdrant-edge) and on qdrant-client's server API (``:memory:``)
give the same ids in the same order. Real SciFact abstracts, the real MiniLM encoder and BM25."""

from __future__ import annotations

from pathlib import Path

import pytest

from citewise.index import (
    CollectionSpec,
    Filter,
    Index,
    IndexPoint,
    Match,
    MatchAny,
    Prefix,
    Range,
    SearchQuery,
)
from citewise.index_edge import EdgeIndex
from citewise.index_server import ServerIndex
from citewise.settings import QdrantSettings
from citewise.types import Chunk
from ingest import steps
from retrieval import access_filter
from tests.paths import scifact_docs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUERIES = [
    "diffusion tensor imaging of newborn white matter",
    "vitamin D deficiency and cancer risk",
    "stem cells in tissue regeneration",
    "antibiotic resistance in bacteria",
    "diffusion tensor magnetic resonance imaging",  # title words: matched through the context of later chunks
]


@pytest.fixture(scope="module")
def points(dense_encoder, bm25_encoder) -> list[IndexPoint]:  # type: ignore[no-untyped-def]
    docs = scifact_docs(160)
    chunks = [
        Chunk(
            doc_id=f"doc-{i // 2}",
            chunk_index=i % 2,
            text=d["text"],
            source=f"/corpus/{'a' if i % 3 else 'b'}/{d['_id']}.txt",
            title=d["title"],
            char_start=0,
            char_end=len(d["text"]),
            file_type="txt" if i % 4 else "pdf",
            tenant="acme" if i % 5 else "globex",
            tags={"year": str(2000 + i % 3)},
            acl=("hr",) if i % 7 == 0 else ("eng", "ops") if i % 7 == 1 else (),
            modified_at=float(i),
            context=(d["title"],) if i % 2 else (),  # BM25 reads the title before a later chunk's text
        )
        for i, d in enumerate(docs)
    ]
    return steps.encode(chunks, dense_encoder, bm25_encoder)  # as ingest encodes them


@pytest.fixture()
def backends(tmp_path: Path, points: list[IndexPoint], dense_encoder):  # type: ignore[no-untyped-def]
    spec = CollectionSpec(dense_size=dense_encoder.dim, encoder="all-MiniLM-L6-v2")
    edge = EdgeIndex(tmp_path / "index", "congruence")
    server = ServerIndex.connect(QdrantSettings(backend="server", url=":memory:"), "congruence")
    for index in (edge, server):
        index.ensure(spec)
        for start in range(0, len(points), 50):
            index.upsert(points[start : start + 50])
    yield edge, server
    edge.close()
    server.close()


def ranking(records) -> list[tuple[float, frozenset[str]]]:  # type: ignore[no-untyped-def]
    """Ids grouped by (rounded) score, in order: ties may come back in any order on either engine."""
    groups: list[tuple[float, set[str]]] = []
    for r in records:
        score = round(r.score, 4)
        if groups and abs(groups[-1][0] - score) < 1e-4:
            groups[-1][1].add(r.id)
        else:
            groups.append((score, {r.id}))
    return [(s, frozenset(ids)) for s, ids in groups]


def assert_same_ranking(a, b) -> None:  # type: ignore[no-untyped-def]
    assert len(a) == len(b)
    if not a:
        return
    ra, rb = ranking(a), ranking(b)
    # The last tie group may be cut at the limit differently; compare the id groups before it exactly
    # (scores only within float tolerance: the two engines round differently in the last digit).
    assert [ids for _, ids in ra[:-1]] == [ids for _, ids in rb[:-1]]
    assert [s for s, _ in ra] == pytest.approx([s for s, _ in rb], abs=1e-3)


FILTERS = [
    None,
    Filter(must=(Match("tenant", "acme"),)),
    Filter(must=(MatchAny("file_type", ("pdf",)), Match("tag_pairs", "year=2001"))),
    Filter(must=(Prefix("source", "/corpus/b/"),)),
    Filter(must=(Range("modified_at", gte=20, lte=90),), must_not=(Match("tenant", "globex"),)),
    access_filter("acme", ("hr",)),  # ACL: open chunks or those of group hr (IsEmpty or MatchAny)
    access_filter("acme", ()),  # ACL: open chunks only
]


@pytest.mark.parametrize("flt", FILTERS, ids=["none", "tenant", "any+tag", "prefix", "range+not", "acl", "acl-none"])
@pytest.mark.parametrize("kind", ["dense", "sparse", "hybrid-rrf", "hybrid-rrf-weighted", "hybrid-dbsf"])
def test_queries_agree(backends, dense_encoder, bm25_encoder, flt, kind) -> None:  # type: ignore[no-untyped-def]
    edge, server = backends
    returned = 0
    for text in QUERIES:
        mode = kind.split("-")[0]
        query = SearchQuery(
            mode=mode,  # type: ignore[arg-type]
            limit=10,
            dense=dense_encoder.encode_query(text),
            sparse=bm25_encoder.encode_query(text),
            filter=flt,
            fusion="dbsf" if kind.endswith("dbsf") else "rrf",
            weights=(2.0, 1.0) if kind.endswith("weighted") else None,
            prefetch_limit=40,
        )
        results = edge.query(query)
        assert_same_ranking(results, server.query(query))
        returned += len(results)
    assert returned > 0, "every query came back empty: the comparison proved nothing"


@pytest.mark.parametrize("flt", [None, access_filter("acme", ("hr",))], ids=["none", "acl"])
def test_query_many_agrees_and_skips_payloads(backends, dense_encoder, bm25_encoder, flt) -> None:  # type: ignore[no-untyped-def]
    """Hybrid search's two lists: one batched call on the embedded engine, ids and scores only, as the server."""
    edge, server = backends
    text = QUERIES[0]
    queries = [
        SearchQuery(mode="dense", limit=20, dense=dense_encoder.encode_query(text), filter=flt, with_payload=False),
        SearchQuery(mode="sparse", limit=20, sparse=bm25_encoder.encode_query(text), filter=flt, with_payload=False),
    ]
    from_edge, from_server = edge.query_many(queries), server.query_many(queries)
    assert [len(r) for r in from_edge] == [len(edge.query(q)) for q in queries] and all(from_edge)
    for got, expected in zip(from_edge, from_server, strict=True):
        assert_same_ranking(got, expected)
        assert all(r.payload == {} for r in got + expected)


def test_counts_scroll_retrieve_delete_agree(backends, points) -> None:  # type: ignore[no-untyped-def]
    edge, server = backends
    indexes: tuple[Index, Index] = (edge, server)
    for flt in FILTERS:
        assert edge.count(flt) == server.count(flt)
    assert edge.count() == len(points)
    assert edge.distinct("doc_id") == server.distinct("doc_id")

    def all_ids(index: Index) -> set[str]:
        ids: set[str] = set()
        offset = None
        while True:
            records, offset = index.scroll(limit=37, offset=offset)
            ids |= {r.id for r in records}
            if offset is None:
                return ids

    assert all_ids(edge) == all_ids(server) == {p.id for p in points}
    some = [p.id for p in points[:5]]
    assert {r.id for r in edge.retrieve(some)} == {r.id for r in server.retrieve(some)} == set(some)

    for index in indexes:
        index.delete(Filter(must=(Match("tenant", "globex"),)))
        index.delete_ids([points[1].id])
    assert (
        edge.count()
        == server.count()
        == len(points) - 1 - sum(1 for p in points if p.payload["tenant"] == "globex" and p.id != points[1].id)
    )
    assert all_ids(edge) == all_ids(server)
    assert edge.distinct("tenant") == server.distinct("tenant") == {"acme": edge.count()}


def test_payloads_identical(backends, points) -> None:  # type: ignore[no-untyped-def]
    edge, server = backends
    ids = [p.id for p in points[:20]]
    by_id_edge = {r.id: r.payload for r in edge.retrieve(ids)}
    by_id_server = {r.id: r.payload for r in server.retrieve(ids)}
    assert by_id_edge == by_id_server
    assert by_id_edge[points[0].id] == points[0].payload


@pytest.mark.parametrize(
    ("groups", "allowed"), [(("hr",), {(), ("hr",)}), (("ops",), {(), ("eng", "ops")}), ((), {()})]
)
def test_acl_filter_keeps_open_chunks_and_those_of_the_groups(backends, groups, allowed) -> None:  # type: ignore[no-untyped-def]
    for index in backends:
        records, _ = index.scroll(access_filter("acme", groups), limit=1000)
        seen = {tuple(r.payload.get("acl") or ()) for r in records}
        assert seen == allowed, type(index).__name__
        assert all(r.payload["tenant"] == "acme" for r in records)


def test_non_english_sparse_vectors_and_lang_filter_agree(tmp_path: Path, bm25_encoder) -> None:  # type: ignore[no-untyped-def]
    """XQuAD paragraphs in Chinese, Arabic and Russian, analysed per language: both engines rank alike."""
    import json

    from citewise.language import detect
    from tests.paths import SHARED, require

    chunks, questions = [], []
    for lang in ("zh", "ar", "ru"):
        data = json.loads(require(SHARED / "datasets" / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        paras = [p for a in data["data"] for p in a["paragraphs"]][:15]
        questions += [(p["qas"][0]["question"], lang) for p in paras[:3]]
        chunks += [
            Chunk(
                doc_id=f"{lang}-{i}",
                chunk_index=0,
                text=p["context"],
                source=f"/x/{lang}/{i}",
                title=lang,
                char_start=0,
                char_end=len(p["context"]),
                lang=detect(p["context"]).lang,
            )
            for i, p in enumerate(paras)
        ]
    assert {c.lang for c in chunks} == {"zh", "ar", "ru"}
    sparse = bm25_encoder.encode([c.text for c in chunks], [c.lang for c in chunks])
    points = [IndexPoint(c.id, [1.0, 0.0], s, c.payload()) for c, s in zip(chunks, sparse, strict=True)]
    edge = EdgeIndex(tmp_path / "index", "lang")
    server = ServerIndex.connect(QdrantSettings(backend="server", url=":memory:"), "lang")
    try:
        for index in (edge, server):
            index.ensure(CollectionSpec(dense_size=2, encoder="none"))
            index.upsert(points)
        for text, lang in questions:
            for flt in (None, Filter(must=(Match("lang", lang),))):
                query = SearchQuery(mode="sparse", limit=5, sparse=bm25_encoder.encode_query(text, lang), filter=flt)
                results = edge.query(query)
                assert results and results[0].payload["lang"] == lang
                assert_same_ranking(results, server.query(query))
    finally:
        edge.close()
        server.close()


def test_replace_dense_and_set_spec_agree(backends, points) -> None:  # type: ignore[no-untyped-def]
    """Re-encoding in place: new dense vectors and ``versions.encoder``, BM25 and other payload untouched; a new
    spec replaces the old one (keys it drops are gone)."""
    edge, server = backends
    ids = [p.id for p in points[:10]]
    flipped = [[-float(x) for x in p.dense] for p in points[:10]]  # a different, still unit-length vector
    query = SearchQuery(mode="dense", limit=3, dense=flipped[0])
    sparse_query = SearchQuery(mode="sparse", limit=5, sparse=points[3].sparse)
    before = [r.id for r in edge.query(sparse_query)]
    for index in (edge, server):
        index.replace_dense(ids, flipped, "adapted@torch")
        assert index.query(query)[0].id == ids[0]
        assert [r.id for r in index.query(sparse_query)] == before
        record = index.retrieve([ids[0]])[0]
        assert record.payload["versions"]["encoder"] == "adapted@torch"
        assert record.payload["text"] == points[0].payload["text"]
        old = index.spec()
        assert old is not None
        index.set_spec(CollectionSpec(old.dense_size, "during", extra={"reencoding_to": "x"}))
        index.set_spec(CollectionSpec(old.dense_size, "adapted"))
        assert index.spec() == CollectionSpec(old.dense_size, "adapted")


def test_set_payload_by_filter_agrees(backends, points) -> None:  # type: ignore[no-untyped-def]
    """Re-tagging a document: the keys given are replaced whole on its points only, tag filters follow."""
    edge, server = backends
    doc = Filter(must=(Match("doc_id", "doc-3"),))
    retagged = Filter(must=(Match("tag_pairs", "team=legal"),))
    for index in (edge, server):
        index.set_payload(doc, {"tags": {"team": "legal"}, "tag_pairs": ["team=legal"]})
        records, _ = index.scroll(doc, limit=10)
        assert len(records) == 2 and all(r.payload["tags"] == {"team": "legal"} for r in records)
        assert all(r.payload["text"] for r in records)  # the rest of the payload stays
        assert index.count(retagged) == 2 and {r.payload["doc_id"] for r in index.scroll(retagged)[0]} == {"doc-3"}
        old = Filter(must=(Match("doc_id", "doc-3"), MatchAny("tag_pairs", ("year=2000", "year=2001"))))
        assert index.count(old) == 0  # its old tags are gone
    assert {r.id: r.payload for r in edge.scroll(doc)[0]} == {r.id: r.payload for r in server.scroll(doc)[0]}
