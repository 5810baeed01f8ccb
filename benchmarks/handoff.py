"""CLI wall time next to a running ``citewise serve`` (hand-off) vs the same command run locally.

Starts a real server on a fresh data dir, ingests FILES from the shared corpus through it, then times whole CLI
processes: an unchanged re-ingest and a search, handed to the server; then stops the server and times the same
commands run locally. Prints a Markdown table (median of --runs).

    PYTHONPATH=. nice .venv/bin/python benchmarks/handoff.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.paths import CORPUS, REPO

FILES = ["README.md", "fake-text.txt", "stanley-cups.csv", "book-war-and-peace-1p.txt", "README.rst", "codeblock.md"]


def timed(cmd: list[str], env: dict[str, str], expect: str | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or (expect is not None and expect not in done.stderr):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="citewise-handoff-"))
    docs = root / "docs"
    docs.mkdir()
    for name in FILES:
        shutil.copy(CORPUS / name, docs / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEWISE_") or k == "CITEWISE_SHARED_DIR"}
    env.update(PYTHONPATH=str(REPO), CITEWISE_DATA_DIR=str(root / "data"), CITEWISE_RETRIEVAL__RERANK="false")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = [sys.executable, "-m", "citewise.cli"]
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        ingest, search = [*cli, "ingest", str(docs), "--json"], [*cli, "search", "Stanley Cup", "--k", "3"]
        first = timed(ingest, env, "the server runs this ingest")
        handed = {
            "ingest (unchanged)": [timed(ingest, env, "the server runs this ingest") for _ in range(args.runs)],
            "search": [timed(search, env) for _ in range(args.runs)],
        }
    finally:
        server.terminate()
        server.wait(60)
    local = {
        "ingest (unchanged)": [timed(ingest, env) for _ in range(args.runs)],
        "search": [timed(search, env) for _ in range(args.runs)],
    }
    print(f"first ingest of {len(FILES)} files through the server: {first:.2f} s\n")
    print("| command (whole CLI process) | handed to the server | local (server stopped) |")
    print("|---|---|---|")
    for name in handed:
        print(f"| {name} | {statistics.median(handed[name]):.2f} s | {statistics.median(local[name]):.2f} s |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
