"""Load on ``POST /v1/search``: N concurrent clients for D seconds against a real ``citewise serve``.

Starts ``citewise serve`` on a free loopback port with a fresh data dir, uploads SciFact abstracts through
``POST /v1/ingest``, then runs (1) one sequential client for the baseline and (2) ``--clients`` concurrent
clients (httpx async), each sending SciFact queries in a loop. Errors (any non-200 or transport error) must
be 0. Prints one JSON object; ``--markdown`` also prints the BENCHMARKS.md table rows.

    nice -n 10 .venv/bin/python benchmarks/api_load.py --clients 16 --duration 30 --docs 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("CITEWISE_SHARED_DIR", REPO.parent / "shared")) / "datasets" / "scifact"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scifact(limit: int) -> tuple[list[tuple[str, bytes]], list[str]]:
    docs: list[tuple[str, bytes]] = []
    with (SCIFACT / "corpus.jsonl").open() as fh:
        for line in fh:
            d = json.loads(line)
            docs.append((f"scifact-{d['_id']}.txt", f"{d['title']}\n\n{d['text']}".encode()))
            if len(docs) >= limit:
                break
    with (SCIFACT / "queries.jsonl").open() as fh:
        queries = [json.loads(line)["text"] for line in fh][:500]
    return docs, queries


def start_server(data_dir: Path, port: int, checkout: Path = REPO) -> subprocess.Popen[bytes]:
    """``citewise serve`` of ``checkout`` (this one by default) on ``data_dir``, rerank off, quiet logs."""
    env = {
        **os.environ,
        "CITEWISE_DATA_DIR": str(data_dir),
        "CITEWISE_RETRIEVAL__RERANK": "false",  # no cross-encoder offline; measure the hybrid path
        "CITEWISE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(checkout),
    }
    env.pop("CITEWISE_API_KEYS_FILE", None)
    cmd = [sys.executable, "-m", "citewise.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(base: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def ingest(base: str, docs: list[tuple[str, bytes]]) -> dict[str, Any]:
    files = [("files", (name, body, "text/plain")) for name, body in docs]
    job_id = httpx.post(f"{base}/v1/ingest", files=files, timeout=120).json()["job_id"]
    while True:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", timeout=10).json()
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.5)


async def load(base: str, queries: list[str], clients: int, duration_s: float, k: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + duration_s

    async def client(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            i = n
            while time.perf_counter() < deadline:
                query = queries[i % len(queries)]
                i += clients
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/search", json={"query": query, "k": k})
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "duration_s": round(elapsed, 2),
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "throughput_rps": round(len(latencies) / elapsed, 2),
        "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1) if ordered else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--baseline-duration", type=float, default=10.0)
    parser.add_argument("--docs", type=int, default=300, help="SciFact abstracts to upload")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    docs, queries = scifact(args.docs)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="citewise-load-") as tmp:
        server = start_server(Path(tmp), port)
        try:
            wait_ready(base)
            job = ingest(base, docs)
            if job["state"] != "done":
                raise SystemExit(f"ingest failed: {job}")
            asyncio.run(load(base, queries, 2, 3.0, args.k))  # warm-up, not reported
            baseline = asyncio.run(load(base, queries, 1, args.baseline_duration, args.k))
            loaded = asyncio.run(load(base, queries, args.clients, args.duration, args.k))
        finally:
            server.terminate()
            server.wait(30)
    report = {
        "docs": len(docs),
        "chunks": job["progress"]["chunks_written"],
        "baseline_1_client": baseline,
        "loaded": loaded,
        "throughput_ratio": round(loaded["throughput_rps"] / baseline["throughput_rps"], 2),
        "p50_ratio": round(loaded["p50_ms"] / baseline["p50_ms"], 2),
    }
    print(json.dumps(report, indent=2))
    if args.markdown:
        print("| clients | requests | errors | throughput (req/s) | p50 (ms) | p95 (ms) |")
        print("|---|---|---|---|---|---|")
        for row in (baseline, loaded):
            print(
                f"| {row['clients']} | {row['requests']} | {row['errors']} | {row['throughput_rps']} "
                f"| {row['p50_ms']} | {row['p95_ms']} |"
            )
    if loaded["errors"] or baseline["errors"]:
        raise SystemExit("errors under load: " + "; ".join(loaded["error_samples"] + baseline["error_samples"]))


if __name__ == "__main__":
    main()
