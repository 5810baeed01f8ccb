"""Ingest throughput: the whole pipeline's chunks/s against the bare dense encoder's chunks/s on the same texts.

SciFact abstracts are written out as text files (``<id>.txt``: title, blank line, abstract) and ingested by
the real ``IngestPipeline`` (parser processes, tokenizer-bounded chunking, MiniLM + BM25, embedded Qdrant,
docstore) into a temporary data dir. The same chunk texts (made beforehand with the pipeline's own loader
and chunker, and checked against what it wrote) are encoded by the same encoder alone, once before and once
after the pipeline run: the mean is the ceiling, which evens out drift on a shared machine. Peak RSS is read
from ``getrusage`` for this process and for the parser processes.

    nice -n 10 env PYTHONPATH=. .venv/bin/python -m benchmarks.ingest --docs 200
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(os.environ.get("CITEWISE_SHARED_DIR", REPO.parent / "shared")) / "datasets/scifact/corpus.jsonl"


def write_docs(corpus: Path, limit: int, folder: Path) -> int:
    n = 0
    with corpus.open() as fh:
        for line in fh:
            doc = json.loads(line)
            (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n")
            n += 1
            if n >= limit:
                break
    return n


def indexed_texts(index: Any) -> list[str]:
    """The chunk texts the pipeline wrote, in (source, chunk index) order."""
    from citewise.types import Chunk

    chunks: list[Chunk] = []
    offset = None
    while True:
        records, offset = index.scroll(limit=512, offset=offset)
        chunks.extend(Chunk.from_payload(r.payload) for r in records)
        if offset is None:
            break
    chunks.sort(key=lambda c: (c.source, c.chunk_index))
    return [c.text for c in chunks]


def expected_texts(folder: Path, chunker: Any) -> list[str]:
    """The same chunk texts, made beforehand with the pipeline's own loader and chunker."""
    from ingest.loaders import load_file

    texts: list[str] = []
    for path in sorted(p.resolve() for p in folder.iterdir()):
        parsed = load_file(path)
        texts.extend(parsed.text[s.char_start : s.char_end] for s in chunker.chunk(parsed))
    return texts


def timed_encode(encoder: Any, texts: list[str]) -> float:
    start = time.perf_counter()
    encoder.encode(texts)
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def parser_peak_rss_mb(pipeline: Any) -> float | None:
    """Largest VmHWM of the live parser processes (getrusage's children figure would include this
    process's RSS at fork time, so it is read from /proc before the pool stops)."""
    pool = getattr(pipeline, "_pool", None)
    peaks = []
    for pid in getattr(pool, "_processes", None) or {}:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return max(peaks) if peaks else None


def run(docs: int, workers: int | None, corpus: Path) -> dict[str, Any]:
    from citewise.docstore import DocStore
    from citewise.encoders import Bm25Encoder, SentenceTransformerEncoder
    from citewise.index import open_index
    from citewise.offline import apply_offline_defaults
    from citewise.settings import load_settings
    from ingest.pipeline import IngestPipeline, resolve_workers

    apply_offline_defaults()
    with tempfile.TemporaryDirectory(prefix="citewise-bench-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        n = write_docs(corpus, docs, folder)
        settings = load_settings(data_dir=Path(tmp) / "data")
        dense = SentenceTransformerEncoder.from_settings(settings.encoder)
        sparse = Bm25Encoder()
        dense.encode(["warm-up: the first call pays one-off costs"] * 8)
        rss_before = peak_rss_mb()

        index = open_index(settings)
        store = DocStore(settings.data_dir, index.collection)
        with IngestPipeline(settings, index, dense, sparse, store) as pipeline:
            texts = expected_texts(folder, pipeline.chunker)
            ceiling_s = [timed_encode(dense, texts)]  # before the run ...
            summary = pipeline.run([folder], workers=workers)
            rss_workers = parser_peak_rss_mb(pipeline)
        rss_pipeline = peak_rss_mb()
        ceiling_s.append(timed_encode(dense, texts))  # ... and after it
        written = indexed_texts(index)
        index.close()
        store.close()
        if summary.failures or written != texts:
            sys.exit(f"the run did not write the expected chunks: {summary.failures[:3]}, {len(written)} chunks")
    pipeline_s = summary.elapsed_s
    encoder_s = sum(ceiling_s) / len(ceiling_s)
    return {
        "docs": n,
        "chunks": len(texts),
        "workers": resolve_workers(settings.ingest.workers if workers is None else workers),
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_chunks_per_s": round(len(texts) / pipeline_s, 2),
        "encoder_s": [round(s, 2) for s in ceiling_s],
        "encoder_chunks_per_s": round(len(texts) / encoder_s, 2),
        "ratio": round(encoder_s / pipeline_s, 3),
        "peak_rss_mb": round(rss_pipeline),
        "peak_rss_before_run_mb": round(rss_before),
        "peak_rss_parser_process_mb": None if rss_workers is None else round(rss_workers),
    }


def table(r: dict[str, Any]) -> str:
    rows = [
        ("documents (SciFact abstracts)", r["docs"]),
        ("chunks", r["chunks"]),
        ("parser processes", r["workers"]),
        ("pipeline: wall s", r["pipeline_s"]),
        ("pipeline: chunks/s", r["pipeline_chunks_per_s"]),
        ("bare encoder: wall s (two passes)", " / ".join(str(s) for s in r["encoder_s"])),
        ("bare encoder: chunks/s (mean)", r["encoder_chunks_per_s"]),
        ("**ratio pipeline / encoder**", f"**{r['ratio']}**"),
        ("peak RSS, main process (MB)", f"{r['peak_rss_mb']} (after model load: {r['peak_rss_before_run_mb']})"),
        ("peak RSS, largest parser process (MB)", r["peak_rss_parser_process_mb"]),
    ]
    return "\n".join(["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=200, help="SciFact abstracts to ingest (5183 in all)")
    parser.add_argument("--workers", type=int, default=None, help="parser processes (default: the setting)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="SciFact corpus.jsonl")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    if not args.corpus.exists():
        sys.exit(f"SciFact corpus not found at {args.corpus}; pass --corpus or set CITEWISE_SHARED_DIR")
    result = run(args.docs, args.workers, args.corpus)
    print(table(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
