"""``POST /v1/search`` latency over HTTP at 100k chunks: this checkout against a baseline checkout, in one run.

    nice env PYTHONPATH=. .venv/bin/python -m benchmarks.search_http --data-dir /tmp/citewise-latency \
        --baseline /tmp/citewise-before --queries 300

The collection is the synthetic one of ``benchmarks/search.py`` (real SciFact sentences, real MiniLM vectors,
HNSW built), built there once and copied into a served data dir per checkout (``<data-dir>/served-this``,
``served-baseline``) under the default collection name, its spec set to the shipped encoder's, so ``citewise
serve`` opens it as its own. Both servers run at once (rerank off, one worker each); one sequential client
sends each SciFact claim to both, in alternating order, so load on a shared machine hits both alike. Every
query is sent once per server (the query cache never hits), after ``--warm`` other claims that fault the
index's memory maps in, as on a server that has been up a while (the first pass over a new copy ran 5x
slower). Reported per checkout: p50 / p95 of the HTTP round trip and of the server's own ``timings_ms``
(encode, retrieve, total), and the ratios this / baseline.
``--baseline`` is any other checkout of citewise (e.g. ``git archive <commit> | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_load import REPO, free_port, start_server, wait_ready
from benchmarks.scifact import queries
from benchmarks.search import build, encoded_pool
from citewise.index_edge import EdgeIndex
from citewise.offline import apply_offline_defaults
from citewise.settings import load_settings


def served_copy(source: Path, points: int, target: Path, spec: Any) -> Path:
    """A data dir holding a copy of the collection folder ``source`` (``points`` points) as its default
    collection, recorded as built by ``spec``'s encoder; an existing complete copy is reused."""
    collection = load_settings().qdrant.collection
    served = EdgeIndex(target / "index", collection)
    try:
        complete = served.spec() is not None and served.count() == points
    finally:
        served.close()
    if not complete:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target / "index" / collection)
    served = EdgeIndex(target / "index", collection)
    try:
        served.set_spec(spec)
    finally:
        served.close()
    return target


def stats(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def measure(bases: dict[str, str], qs: list[str], k: int) -> dict[str, dict[str, Any]]:
    """Each query to every server, the order alternating; wall ms of the round trip and the server's timings."""
    import time

    samples: dict[str, dict[str, list[float]]] = {name: {} for name in bases}
    names = list(bases)
    with httpx.Client(timeout=60) as http:
        for i, query in enumerate(qs):
            for name in names if i % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                response = http.post(f"{bases[name]}/v1/search", json={"query": query, "k": k, "mode": "hybrid"})
                wall = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{name}: {response.status_code} {response.text[:500]}")
                body = response.json()
                if len(body["hits"]) != k:
                    raise SystemExit(f"{name}: {len(body['hits'])} hits for {query!r}, expected {k}")
                into = samples[name]
                into.setdefault("http", []).append(wall)
                for stage, ms in body["timings_ms"].items():
                    into.setdefault(stage, []).append(float(ms))
    return {name: {stage: stats(v) for stage, v in got.items()} for name, got in samples.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="pool cache, index and served copies (reused)")
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of citewise")
    parser.add_argument("--size", type=int, default=100_000, help="chunks in the collection")
    parser.add_argument("--queries", type=int, default=300, help="SciFact claims, each sent once to each server")
    parser.add_argument("--warm", type=int, default=200, help="other claims sent first (not reported)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--per-chunk", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.05)
    args = parser.parse_args(argv)
    apply_offline_defaults()

    from citewise.encoders import Bm25Encoder, collection_spec, load_dense_encoder

    settings = load_settings()
    dense = load_dense_encoder(settings.encoder, settings.data_dir)
    texts, vectors = encoded_pool(args.data_dir, args.pool, dense)
    index = build(args.data_dir, args.size, texts, vectors, Bm25Encoder(), args)
    source, points = index.path, index.count()
    index.close()
    spec = collection_spec(dense)
    del dense
    checkouts = {"baseline": args.baseline.resolve(), "this": REPO}
    dirs = {name: served_copy(source, points, args.data_dir / f"served-{name}", spec) for name in checkouts}
    claims = list(queries().values())
    qs, warm = claims[: args.queries], claims[args.queries : args.queries + args.warm]
    servers, bases = [], {}
    try:
        for name, checkout in checkouts.items():
            port = free_port()
            servers.append(start_server(dirs[name], port, checkout))
            bases[name] = f"http://127.0.0.1:{port}"
        for base in bases.values():
            wait_ready(base, timeout_s=600)
        measure(bases, warm, args.k)  # loads the query sessions, faults the index's mmaps in (a server's steady state)
        report: dict[str, Any] = {"chunks": args.size, "queries": len(qs), "k": args.k, **measure(bases, qs, args.k)}
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
    report["ratio_this_over_baseline"] = {
        stage: round(report["this"][stage]["p50"] / report["baseline"][stage]["p50"], 3)
        for stage in report["this"]
        if stage in report["baseline"] and report["baseline"][stage]["p50"] > 0
    }
    print(json.dumps(report, indent=2))
    print(json.dumps(report["ratio_this_over_baseline"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
