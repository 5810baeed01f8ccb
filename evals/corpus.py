"""A corpus of (id, title, text) documents (BEIR, SQuAD paragraphs) in its own collection, via the real pipeline.

Each document becomes a text file (title, blank line, text) under ``<data_dir>/evals/<collection>/docs``,
ingested with the source name ``eval:<dataset>/<document id>``. The pipeline's incremental behaviour makes a
second run over an unchanged corpus do no work; changed documents are re-indexed and documents that left
the corpus are deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from citewise.docstore import DocStore
from citewise.index import Index
from citewise.settings import Settings
from evals.beir import BeirDoc
from ingest.pipeline import IngestPipeline, IngestSummary, ProgressCallback

SOURCE_PREFIX = "eval:"


@dataclass(frozen=True)
class CorpusIndex:
    """The collection a BEIR corpus lives in, and how to map a chunk's source back to the corpus id."""

    collection: str
    summary: IngestSummary
    removed: int
    source_to_doc: dict[str, str]

    def doc_id(self, source: str) -> str | None:
        return self.source_to_doc.get(source)


def collection_for(name: str, kind: str = "beir") -> str:
    """``<kind>_<dataset name>``, reduced to the characters a collection name allows."""
    return (kind + "_" + re.sub(r"[^A-Za-z0-9_\-]+", "_", name))[:64]


def source_name(name: str, doc_id: str) -> str:
    return f"{SOURCE_PREFIX}{name}/{doc_id}"


def materialize(name: str, docs: Sequence[BeirDoc], folder: Path) -> dict[str, str]:
    """Write one text file per document (only when its content changed); returns path -> source name."""
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    wanted: set[str] = set()
    for doc in docs:
        path = folder / f"{_file_stem(doc.doc_id)}.txt"
        content = f"{doc.title}\n\n{doc.text}" if doc.title else doc.text
        data = content.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        names[str(path.resolve())] = source_name(name, doc.doc_id)
        wanted.add(path.name)
    for stale in folder.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    return names


def _file_stem(doc_id: str) -> str:
    stem = quote(doc_id, safe="")
    return stem if len(stem) <= 150 else hashlib.sha256(doc_id.encode("utf-8")).hexdigest()


def ingest_corpus(
    settings: Settings,
    name: str,
    docs: Sequence[BeirDoc],
    index: Index,
    dense: Any,
    sparse: Any,
    progress: ProgressCallback | None = None,
) -> CorpusIndex:
    """Bring ``index`` (the dataset's own collection) up to date with the corpus; reuse what is already there."""
    folder = settings.data_dir / "evals" / index.collection / "docs"
    names = materialize(name, docs, folder)
    docstore = DocStore(settings.data_dir, index.collection)
    try:
        with IngestPipeline(settings, index, dense, sparse, docstore) as pipeline:
            summary = pipeline.run(
                [folder], workers=0, source_names=names, include=("*.txt",), exclude=(), progress=progress
            )
            prefix = f"{SOURCE_PREFIX}{name}/"
            current = set(names.values())
            gone = [r.doc_id for r in docstore.iter_all(source_prefix=prefix) if r.source not in current]
            for doc_id in gone:
                pipeline.delete_document(doc_id)
    finally:
        docstore.close()
    prefix_len = len(f"{SOURCE_PREFIX}{name}/")
    return CorpusIndex(index.collection, summary, len(gone), {s: s[prefix_len:] for s in names.values()})
