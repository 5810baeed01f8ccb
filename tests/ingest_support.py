"""Helpers for the ingest tests: build a pipeline on a fresh embedded index, read back the point set."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from citewise.docstore import DocStore
from citewise.index import Filter, Index, Match, open_index
from citewise.settings import Settings
from citewise.types import Chunk
from ingest.pipeline import IngestPipeline


class CountingEncoder:
    """Wraps a real dense encoder and counts the texts it encodes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.encoded = 0
        self.model_id, self.dim, self.max_seq_length = inner.model_id, inner.dim, inner.max_seq_length

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        return self.inner.encode(texts)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))


class HashEncoder(CountingEncoder):
    """Speed fake for whole-corpus tests: the real tokenizer for chunking, hashed unit vectors for encoding."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            rng = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16))
            vec = rng.standard_normal(self.dim).astype(np.float32)
            out[i] = vec / np.linalg.norm(vec)
        return out


def build(settings: Settings, dense: Any, sparse: Any) -> tuple[IngestPipeline, Index, DocStore]:
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    return IngestPipeline(settings, index, dense, sparse, store), index, store


def all_chunks(index: Index, flt: Filter | None = None) -> list[Chunk]:
    chunks, offset = [], None
    while True:
        records, offset = index.scroll(flt, limit=512, offset=offset)
        chunks.extend(Chunk.from_payload(r.payload) for r in records)
        if offset is None:
            return chunks


def doc_chunks(index: Index, doc_id: str) -> list[Chunk]:
    return sorted(all_chunks(index, Filter(must=(Match("doc_id", doc_id),))), key=lambda c: c.chunk_index)


def point_set(index: Index) -> set[tuple[str, str, str]]:
    """(point id, chunk hash, content hash) of every point: equal sets mean the same index content."""
    return {(c.id, c.chunk_hash, c.content_hash) for c in all_chunks(index)}


def check_invariants(index: Index, store: DocStore, max_tokens: int, count_tokens: Any) -> int:
    """Every chunk quotes its document's stored text exactly and fits the encoder; returns the chunk count."""
    chunks = all_chunks(index)
    texts: dict[tuple[str, str], str] = {}  # one read per document version, not per chunk
    for c in chunks:
        key = (c.doc_id, c.content_hash)
        if key not in texts:
            texts[key] = store.get_text(c.doc_id, c.content_hash)
        assert texts[key][c.char_start : c.char_end] == c.text, c
        assert count_tokens(c.text) <= max_tokens, (c.source, c.chunk_index)
    per_doc: dict[str, int] = {}
    for c in chunks:
        per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
    for doc_id, n in per_doc.items():
        record = store.require(doc_id)
        assert record.complete and record.chunks == n, (record, n)
    return len(chunks)


def committed_documents(db: Path) -> int:
    """Documents committed in the docstore ``db`` (read-only, while a writer may be at work: 0 when busy)."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)) as con:
            return int(con.execute("SELECT count(*) FROM documents WHERE content_hash IS NOT NULL").fetchone()[0])
    except sqlite3.OperationalError:  # the writer is between steps; try again
        return 0


def one_json_object(result: Any) -> dict[str, Any]:
    """A CLI result's stdout, which must be exactly one JSON object (logs and progress go to stderr)."""
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def ingest_folder(docs: Path, data_dir: Path, dense: Any, sparse: Any) -> tuple[Settings, Index, DocStore]:
    """``docs`` ingested (every file must go in) into a fresh collection under ``data_dir``; the settings have no
    LLM configured, whatever the caller's environment says. The caller closes the index."""
    import pytest

    from citewise.settings import load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CITEWISE_GENERATION__LLM", raising=False)
        settings = load_settings(data_dir=data_dir)
    pipeline, index, store = build(settings, dense, sparse)
    summary = pipeline.run([docs], workers=0)
    pipeline.close()
    assert summary.ok, summary.failures
    return settings, index, store
