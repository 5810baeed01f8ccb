"""Response cache of ``POST /v1/ask``: latency of a miss (retrieve + answer + verify) vs a hit.

Builds the API in process (``fastapi.testclient``; real embedded index, the configured encoder and reranker, the
extractive answerer unless ``CITEWISE_GENERATION__LLM`` says otherwise) over ``--docs`` SciFact abstracts uploaded
through ``POST /v1/ingest``, asks ``--queries`` SciFact queries once (misses), then again (hits), and prints one
JSON object with p50/p95 of each pass (HTTP time, client side) and the p50 ratio.

    nice -n 10 .venv/bin/python benchmarks/answer_cache.py --docs 200 --queries 40
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.api_load import scifact  # noqa: E402


def _pass(client: Any, queries: list[str], expect: str) -> list[float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        response = client.post("/v1/ask", json={"question": q, "k": 5})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        assert response.json()["cache"] == expect, (q, response.json()["cache"])
    return times


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api import create_app
    from citewise.settings import load_settings

    docs, queries = scifact(args.docs)
    queries = list(dict.fromkeys(queries))[: args.queries]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", ingest={"workers": 0}, answer_cache={"enabled": True})
        with TestClient(create_app(settings)) as client:
            files = [("files", (name, data)) for name, data in docs]
            job = client.post("/v1/ingest", files=files).json()["job_id"]
            while client.get(f"/v1/jobs/{job}").json()["state"] not in ("done", "failed"):
                time.sleep(0.2)
            misses = _pass(client, queries, "miss")
            hits = _pass(client, queries, "hit")
    miss, hit = _stats(misses), _stats(hits)
    print(
        json.dumps(
            {
                "docs": len(docs),
                "queries": len(queries),
                "answerer": settings.generation.llm,
                "rerank": settings.retrieval.rerank,
                "miss": miss,
                "hit": hit,
                "p50_ratio": round(miss["p50_ms"] / max(hit["p50_ms"], 1e-6), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
