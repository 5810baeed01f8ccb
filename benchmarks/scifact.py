"""SciFact (BEIR layout) for the retrieval benchmarks: load it, and index it once into a reusable data dir.

Each abstract is one chunk (``title`` + ``text``, as BEIR does), encoded by the project's own ingest step
(real MiniLM + BM25) into the embedded index. The index is kept under ``--data-dir`` and reused by later runs.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from citewise.index import CollectionSpec
from citewise.index_edge import EdgeIndex
from citewise.types import Chunk

if TYPE_CHECKING:
    from citewise.encoders import DenseEncoderProtocol, SparseEncoderProtocol

REPO = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("CITEWISE_SHARED_DIR", REPO.parent / "shared")) / "datasets" / "scifact"
COLLECTION = "scifact"


def corpus(root: Path = SCIFACT) -> Iterator[dict[str, str]]:
    with (root / "corpus.jsonl").open() as fh:
        for line in fh:
            yield json.loads(line)


def queries(root: Path = SCIFACT) -> dict[str, str]:
    with (root / "queries.jsonl").open() as fh:
        return {q["_id"]: q["text"] for q in map(json.loads, fh)}


def qrels(split: str, root: Path = SCIFACT) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: relevance}}`` of one split (``train`` or ``test``)."""
    out: dict[str, dict[str, int]] = {}
    with (root / "qrels" / f"{split}.tsv").open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if int(row["score"]) > 0:
                out.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return out


def chunk_of(doc: dict[str, str]) -> Chunk:
    text = f"{doc['title']} {doc['text']}".strip()
    return Chunk(
        doc_id=doc["_id"],
        chunk_index=0,
        text=text,
        source=f"scifact/{doc['_id']}",
        title=doc["title"],
        char_start=0,
        char_end=len(text),
        file_type="txt",
    )


def open_scifact_index(
    index_dir: Path, dense: DenseEncoderProtocol, sparse: SparseEncoderProtocol, batch: int = 128
) -> EdgeIndex:
    """The SciFact collection under ``index_dir``, ingested now unless a complete one is already there."""
    from ingest.steps import encode

    docs = list(corpus())
    index = EdgeIndex(index_dir, COLLECTION)
    spec = CollectionSpec(dense_size=dense.dim, encoder=dense.model_id)
    have = index.count() if index.spec() is not None else 0
    if have == len(docs):
        return index
    index.ensure(spec)  # a run that was stopped resumes: points are written in corpus order, a batch at a time
    first = have // batch * batch
    started = time.perf_counter()
    for start in range(first, len(docs), batch):
        chunks = [chunk_of(d) for d in docs[start : start + batch]]
        index.upsert(encode(chunks, dense, sparse))
        index.flush()
        done = start + len(chunks)
        rate = (done - first) / (time.perf_counter() - started)
        print(f"\ringested {done}/{len(docs)} abstracts ({rate:.1f}/s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    index.optimize()
    index.flush()
    return index
