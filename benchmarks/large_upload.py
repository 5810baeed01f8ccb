"""A large .txt upload through the API: peak RSS, wall time, and whether progress moves (issue 14, finding 4).

Builds a text file of ``--mb`` MB from the shared corpus's War and Peace (repeated), uploads it to the real
app (``TestClient``: embedded Qdrant, MiniLM, BM25) and polls the job, printing files/chunks as they move.
Peak RSS is ``getrusage`` of this process (the server; parsing runs in-process for a single file).

    nice -n 10 env PYTHONPATH=. .venv/bin/python -m benchmarks.large_upload --mb 30
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

REPO = Path(__file__).resolve().parents[1]
BOOK = (
    Path(os.environ.get("CITEWISE_SHARED_DIR", REPO.parent / "shared"))
    / "corpora/unstructured-example-docs/book-war-and-peace-1225p.txt"
)


def rss_mb() -> float:
    """Peak RSS of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """RSS of this process now (MB; Linux ``/proc``, else the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss_mb()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=30.0, help="size of the uploaded text file")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="data dir to use (kept; run once with a small --mb to measure a warm start: model exports cached)",
    )
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    from api import create_app
    from citewise.settings import ApiSettings, IngestSettings, RetrievalSettings, Settings

    book = BOOK.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = int(args.mb * 1e6)
        big = root / "big.txt"
        with big.open("w", encoding="utf-8") as out:
            written = 0
            while written < target:
                written += out.write(book[: target - written])
        settings = Settings(
            data_dir=args.data_dir or root / "data",
            ingest=IngestSettings(workers=0),
            retrieval=RetrievalSettings(rerank=False),
            api=ApiSettings(max_upload_mb=1000, job_timeout_s=args.timeout_s),  # the job is not cut before the poll
        )
        rss_before = rss_mb()
        with TestClient(create_app(settings)) as client:
            rss_ready = rss_mb()
            t0 = time.perf_counter()
            with big.open("rb") as fh:
                created = client.post("/v1/ingest", files=[("files", ("big.txt", fh))])
            job_id = created.json()["job_id"]
            seen: list[tuple[float, int]] = []
            job: dict = {}
            while time.perf_counter() - t0 < args.timeout_s:
                job = client.get(f"/v1/jobs/{job_id}").json()
                chunks = job["progress"]["chunks_written"]
                if not seen or seen[-1][1] != chunks:
                    seen.append((round(time.perf_counter() - t0, 1), chunks))
                    print(
                        f"{seen[-1][0]:8.1f} s  chunks {chunks}  rss {current_rss_mb():.0f} MB  peak {rss_mb():.0f} MB",
                        file=sys.stderr,
                        flush=True,
                    )
                if job["state"] in ("done", "failed", "cancelled"):
                    break
                time.sleep(1.0)
            elapsed = time.perf_counter() - t0
        report = {
            "mb": args.mb,
            "state": job.get("state"),
            "error": job.get("error"),
            "chunks": job.get("progress", {}).get("chunks_written"),
            "elapsed_s": round(elapsed, 1),
            "chunks_per_s": round((job.get("progress", {}).get("chunks_written") or 0) / elapsed, 1),
            "progress_updates": len(seen),
            "first_chunks_at_s": next((t for t, c in seen if c > 0), None),
            "rss_mb": {"start": round(rss_before), "ready": round(rss_ready), "peak": round(rss_mb())},
        }
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
