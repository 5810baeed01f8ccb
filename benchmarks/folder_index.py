"""A folder of texts ingested into a fresh embedded collection, with the parts the answer benchmarks use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from citewise.docstore import DocStore
from citewise.encoders import Bm25Encoder, SentenceTransformerEncoder
from citewise.index import Index, open_index
from citewise.settings import Settings, load_settings
from ingest.pipeline import IngestPipeline, IngestSummary
from retrieval import Retriever


@dataclass
class FolderIndex:
    settings: Settings
    index: Index
    store: DocStore
    retriever: Retriever  # hybrid, no reranker
    summary: IngestSummary
    ingest_s: float

    def close(self) -> None:
        self.store.close()
        self.index.close()


def ingest_folder(docs: Path, data_dir: Path) -> FolderIndex:
    """``docs`` ingested (MiniLM on torch, BM25; parsing in this process) into a collection under ``data_dir``."""
    settings = load_settings(data_dir=data_dir)
    dense, sparse = SentenceTransformerEncoder.from_settings(settings.encoder), Bm25Encoder()
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    t0 = time.perf_counter()
    with IngestPipeline(settings, index, dense, sparse, store) as pipeline:
        summary = pipeline.run([docs], workers=0)
    ingest_s = time.perf_counter() - t0
    retriever = Retriever(settings.retrieval, index, dense, sparse, reranker=None)
    return FolderIndex(settings, index, store, retriever, summary, ingest_s)
