"""Ingest throughput against the standard LlamaIndex pipeline, both on the same SciFact files in one run.

    nice env PYTHONPATH=. .venv/bin/python -m benchmarks.peer_llamaindex --docs 1000 --rounds 1

The files: SciFact abstracts as ``<id>.txt`` (title, blank line, abstract): every abstract relevant to the test
queries plus the corpus's first ones up to ``--docs`` (so nDCG@10 is comparable between the two, and higher
than on the full corpus). Each side runs in a fresh interpreter and is timed from outside, imports and model
loading included, as a user runs it:

- **citewise**: ``citewise ingest FOLDER`` on a new data dir with default settings (parser process,
  tokenizer-bounded chunks, MiniLM int8 from the machine's model cache, BM25, embedded Qdrant, docstore).
- **LlamaIndex** (llama-index-core, already in the project's venv): ``SimpleDirectoryReader`` ->
  ``IngestionPipeline([SentenceSplitter(1024, 200), embedding])`` -> ``VectorStoreIndex`` (the in-memory
  ``SimpleVectorStore``), then ``storage_context.persist``. The embedding is ``HuggingFaceEmbedding``'s code
  path (sentence-transformers ``encode``, normalized; the package itself is not in the venv) on the same
  packaged MiniLM, batch ``--peer-batch`` (default: ours, 64; ``HuggingFaceEmbedding`` defaults to 10). The
  in-memory store is faster than the Qdrant local mode used in issue 19's first measurement, so the ratio
  here is, if anything, in the peer's favour.

Then nDCG@10 of each (SciFact test queries; citewise: hybrid search, rerank off; LlamaIndex: its vector
retriever, the pipeline above has no BM25 retriever without another package), chunk hits collapsed to
documents, and the share of the peer's chunks longer than MiniLM's 256 word pieces (silently truncated).
``--rounds 2`` alternates the order to even out load on a shared machine. Besides wall time, each side's CPU
seconds (user + system, its parser processes included): on a shared machine the wall time of a run depends
on what else runs that minute, its CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.encoders import load_scifact, ndcg_checked

REPO = Path(__file__).resolve().parents[1]
DEPTH = 50  # chunks fetched per query before collapsing to documents


def write_files(folder: Path, docs: int, queries: int) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The abstracts as ``<id>.txt``; returns the test queries (``queries`` of them, 0: all) and their qrels."""
    from benchmarks.scifact import corpus

    ids, _, chosen, qrels = load_scifact(docs, queries)
    wanted = set(ids)
    folder.mkdir(parents=True, exist_ok=True)
    for doc in corpus():
        if doc["_id"] in wanted:
            (folder / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}\n")
    return chosen, qrels


def timed(cmd: list[str], env: dict[str, str], done_file: Path | None = None) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stdout) of ``cmd``; wall ends when the process exits, or at the epoch time
    it wrote to ``done_file`` (the peer: its ingest is done, what follows answers the queries). CPU: user +
    system seconds of the process and its children (parser processes), read from its stderr when it reports
    them at the end of its ingest (the peer), else from ``RUSAGE_CHILDREN``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done_file is not None:
        wall, cpu = (float(x) for x in done_file.read_text().split())
        wall -= started
    return wall, cpu, _peak_from(proc.stderr), proc.stdout


def _peak_from(stderr: str) -> float:
    for line in reversed(stderr.splitlines()):
        if line.startswith("PEAK_RSS_MB "):
            return float(line.split()[1])
    return float("nan")


def run_citewise(folder: Path, data_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    code = (
        "import resource, sys; from citewise.cli import app\n"
        "try:\n    app(sys.argv[1:], prog_name='citewise')\n"
        "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
        "print('PEAK_RSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)\n"
        "sys.exit(code)"
    )
    cmd = [sys.executable, "-c", code, "ingest", str(folder), "--json"]
    wall, cpu, peak, out = timed(cmd, {**env, "CITEWISE_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)})
    summary = json.loads(out[out.index("{") :])
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak), "summary": summary}


def run_peer(work: Path, out: Path, env: dict[str, str], batch: int, with_queries: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.peer_llamaindex", "--peer-only", str(work / "docs")]
    cmd += ["--peer-out", str(out), "--peer-batch", str(batch)]
    if with_queries:
        cmd += ["--peer-queries", str(work / "queries.json")]
    done = out.with_suffix(".done")
    wall, cpu, peak, _ = timed(cmd, {**env, "PYTHONPATH": str(REPO)}, done)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak), **json.loads(out.read_text())}


def peer_main(folder: Path, out: Path, batch: int, queries_file: Path | None) -> None:
    """The LlamaIndex side (its own process): build, persist, count truncation, then answer the queries."""
    started = time.perf_counter()
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from pydantic import PrivateAttr
    from sentence_transformers import SentenceTransformer

    from citewise.encoders import resolve_model_path
    from citewise.settings import DEFAULT_DENSE_MODEL

    class SentenceTransformerEmbedding(BaseEmbedding):  # HuggingFaceEmbedding's code path, without the package
        _model: Any = PrivateAttr()

        def __init__(self, path: str, batch_size: int) -> None:
            super().__init__(model_name=path, embed_batch_size=batch_size)
            self._model = SentenceTransformer(path, device="cpu")

        def _embed(self, texts: list[str]) -> list[list[float]]:
            vectors = self._model.encode(texts, batch_size=self.embed_batch_size, normalize_embeddings=True)
            return [list(map(float, v)) for v in vectors]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embed([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embed(texts)

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embed([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    model_path = resolve_model_path(DEFAULT_DENSE_MODEL)
    embed = SentenceTransformerEmbedding(model_path, batch)
    documents = SimpleDirectoryReader(str(folder)).load_data()
    pipeline = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=1024, chunk_overlap=200), embed])
    nodes = pipeline.run(documents=documents)
    index = VectorStoreIndex(nodes, embed_model=embed, storage_context=StorageContext.from_defaults())
    index.storage_context.persist(str(out.parent / "peer-storage"))
    ingest_s = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.with_suffix(".done").write_text(f"{time.time()!r} {usage.ru_utime + usage.ru_stime!r}")
    tokenizer = embed._model.tokenizer
    limit = embed._model.max_seq_length
    lengths = [len(tokenizer(n.get_content(), add_special_tokens=True)["input_ids"]) for n in nodes]
    report: dict[str, Any] = {
        "docs": len(documents),
        "chunks": len(nodes),
        "in_process_ingest_s": round(ingest_s, 2),
        "truncated_chunks": sum(n > limit for n in lengths),
        "max_seq_length": limit,
    }
    if queries_file is not None:
        queries = json.loads(queries_file.read_text())
        retriever = index.as_retriever(similarity_top_k=DEPTH)
        report["run"] = {
            qid: _docs([Path(h.node.metadata["file_path"]).stem for h in retriever.retrieve(text)])
            for qid, text in queries.items()
        }
    out.write_text(json.dumps(report))
    print("PEAK_RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)


def _docs(ranked_sources: list[str]) -> list[str]:
    """Chunk hits (best first) collapsed to their documents, each at its best chunk's rank."""
    return list(dict.fromkeys(ranked_sources))[:10]


def citewise_run(data_dir: Path, queries: dict[str, str]) -> dict[str, list[str]]:
    from citewise.settings import load_settings
    from retrieval import Retriever, access_filter

    settings = load_settings(data_dir=data_dir)
    retriever = Retriever.from_settings(settings)
    try:
        flt = access_filter("default")
        return {
            qid: _docs(
                [
                    Path(h.chunk.source).stem
                    for h in retriever.search(text, k=DEPTH, filters=flt, mode="hybrid", rerank=False).hits
                ]
            )
            for qid, text in queries.items()
        }
    finally:
        retriever.index.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1000, help="abstracts (the relevant ones + the first ones)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, alternating which side goes first")
    parser.add_argument("--queries", type=int, default=0, help="SciFact test queries (0: all 300)")
    parser.add_argument("--peer-batch", type=int, default=64)
    parser.add_argument("--peer-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--peer-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--peer-queries", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from citewise.offline import apply_offline_defaults

    apply_offline_defaults()
    if args.peer_only is not None:
        peer_main(args.peer_only, args.peer_out, args.peer_batch, args.peer_queries)
        return 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEWISE_") or k == "CITEWISE_CACHE_DIR"}
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="citewise-peer-") as tmp:
        work = Path(tmp)
        queries, qrels = write_files(work / "docs", args.docs, args.queries)
        (work / "queries.json").write_text(json.dumps(queries))
        for r in range(args.rounds):
            sides = ["citewise", "llamaindex"] if r % 2 == 0 else ["llamaindex", "citewise"]
            got: dict[str, Any] = {}
            for side in sides:
                if side == "citewise":
                    got[side] = run_citewise(work / "docs", work / f"data-{r}", env)
                else:
                    got[side] = run_peer(work, work / f"peer-{r}.json", env, args.peer_batch, with_queries=r == 0)
                print(f"round {r + 1} {side}: {got[side]['wall_s']} s", file=sys.stderr)
            if r == 0:
                got["citewise"]["run"] = citewise_run(work / f"data-{r}", queries)
            rounds.append(got)
    first = rounds[0]
    summary = first["citewise"]["summary"]
    ours_chunks = summary["chunks"]["added"]
    report: dict[str, Any] = {
        "docs": first["llamaindex"]["docs"],
        "queries": len(queries),
        "citewise": {
            "wall_s": [r["citewise"]["wall_s"] for r in rounds],
            "docs_per_s": [round(first["llamaindex"]["docs"] / r["citewise"]["wall_s"], 2) for r in rounds],
            "cpu_s": [r["citewise"]["cpu_s"] for r in rounds],
            "chunks": ours_chunks,
            "truncated_chunks": 0,
            "peak_rss_mb": [r["citewise"]["peak_rss_mb"] for r in rounds],
            "ndcg@10": round(ndcg_checked(first["citewise"]["run"], qrels), 4),
        },
        "llamaindex": {
            "wall_s": [r["llamaindex"]["wall_s"] for r in rounds],
            "docs_per_s": [round(first["llamaindex"]["docs"] / r["llamaindex"]["wall_s"], 2) for r in rounds],
            "cpu_s": [r["llamaindex"]["cpu_s"] for r in rounds],
            "chunks": first["llamaindex"]["chunks"],
            "truncated_chunks": first["llamaindex"]["truncated_chunks"],
            "peak_rss_mb": [r["llamaindex"]["peak_rss_mb"] for r in rounds],
            "ndcg@10": round(ndcg_checked(first["llamaindex"]["run"], qrels), 4),
        },
    }
    report["speedup_docs_per_s"] = [
        round(r["llamaindex"]["wall_s"] / r["citewise"]["wall_s"], 2) for r in rounds
    ]  # same docs: wall ratio = docs/s ratio
    report["speedup_docs_per_cpu_s"] = [round(r["llamaindex"]["cpu_s"] / r["citewise"]["cpu_s"], 2) for r in rounds]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
