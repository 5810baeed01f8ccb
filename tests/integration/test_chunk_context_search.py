"""Chunk context for real: SciFact abstracts as plain-text files (title line, blank line, abstract) through the
ingest pipeline with MiniLM and BM25; a later chunk of an abstract is found by the words of its title alone,
while its stored text stays the file's bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from citewise.index import SearchQuery
from citewise.types import SparseVector
from tests.ingest_support import all_chunks, build
from tests.paths import scifact_docs

pytestmark = [pytest.mark.integration]


def test_later_chunks_match_their_title_and_keep_exact_text(
    settings: Any, dense_encoder: Any, bm25_encoder: Any, tmp_path: Path
) -> None:
    docs = sorted(scifact_docs(40), key=lambda d: -len(d["text"]))[:3]  # long abstracts: several chunks each
    folder = tmp_path / "abstracts"
    folder.mkdir()
    files = {}
    for d in docs:
        path = folder / f"{d['_id']}.txt"
        path.write_text(f"{d['title']}\n\n{d['text']}\n", encoding="utf-8")
        files[d["_id"]] = (d, path.read_text(encoding="utf-8"))
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    with pipeline:
        assert pipeline.run([folder]).ok
    later = [c for c in all_chunks(index) if c.chunk_index > 0]
    assert later, "no abstract was split: the test proves nothing"
    for c in later:
        doc, text = files[Path(c.source).stem]
        assert c.context == (" ".join(doc["title"].split()),)
        assert text[c.char_start : c.char_end] == c.text  # the quote is the file's text, byte for byte
    chunk = later[0]
    title = files[Path(chunk.source).stem][0]["title"]
    only_title = set(bm25_encoder.term_ids(title)) - set(bm25_encoder.term_ids(chunk.text))
    assert only_title, "the title shares every term with the chunk"
    full = bm25_encoder.encode_query(title)
    kept = [(i, v) for i, v in zip(full.indices, full.values, strict=True) if i in only_title]
    query = SparseVector(tuple(i for i, _ in kept), tuple(v for _, v in kept))
    hits = index.query(SearchQuery(mode="sparse", limit=100, sparse=query))
    assert chunk.id in [h.id for h in hits]  # matched on words only its context holds
    index.close()
    store.close()
