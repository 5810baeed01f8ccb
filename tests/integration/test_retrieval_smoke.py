"""Retriever on the real embedded index with the real encoders: modes, filters, tenants, rerank fallback."""

from __future__ import annotations

from typing import Any

import pytest

from citewise.index import open_index
from citewise.types import DEFAULT_TENANT, Chunk
from retrieval import Retriever, access_filter, parse_filter_args

pytestmark = pytest.mark.integration

TEXTS = {
    "a": "Aspirin reduces the risk of heart attack in adults with cardiovascular disease.",
    "b": "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
    "c": "Photosynthesis converts light energy into chemical energy in plant chloroplasts.",
}


@pytest.fixture()
def retriever(settings: Any, dense_encoder: Any, bm25_encoder: Any) -> Retriever:
    from citewise.index import CollectionSpec, IndexPoint

    index = open_index(settings)
    index.ensure(CollectionSpec(dense_size=dense_encoder.dim, encoder="test"))
    points = []
    for tenant in (DEFAULT_TENANT, "other"):
        for doc, text in TEXTS.items():
            chunk = Chunk(
                doc_id=f"{tenant}-{doc}",
                chunk_index=0,
                text=text,
                source=f"/docs/{doc}.txt",
                title=doc,
                char_start=0,
                char_end=len(text),
                file_type="pdf" if doc == "a" else "txt",
                tenant=tenant,
            )
            points.append(
                IndexPoint(
                    chunk.id, dense_encoder.encode([text])[0].tolist(), bm25_encoder.encode([text])[0], chunk.payload()
                )
            )
    index.upsert(points)
    return Retriever(settings.retrieval, index, dense_encoder, bm25_encoder, reranker=None)


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_each_mode_finds_the_matching_chunk(retriever: Retriever, mode: str) -> None:
    result = retriever.search(
        "When was the Eiffel Tower built?", k=2, filters=access_filter(DEFAULT_TENANT), mode=mode, rerank=False
    )
    assert result.hits[0].doc_id == f"{DEFAULT_TENANT}-b"
    assert {"encode", "retrieve", "total"} <= set(result.timings_ms)
    assert all(h.chunk.tenant == DEFAULT_TENANT for h in result.hits)


def test_filters_and_tenant_isolation(retriever: Retriever) -> None:
    flt = access_filter("other") & parse_filter_args(["file_type=pdf"])
    result = retriever.search("Eiffel Tower", k=5, filters=flt, rerank=False)
    assert [h.doc_id for h in result.hits] == ["other-a"]


def test_rerank_without_a_model_falls_back_to_fused_order(retriever: Retriever) -> None:
    result = retriever.search("plants and light", k=3, filters=access_filter(DEFAULT_TENANT), rerank=True)
    assert result.rerank_status.startswith("unavailable")
    assert result.hits[0].doc_id == f"{DEFAULT_TENANT}-c"
