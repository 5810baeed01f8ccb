"""CLI start-up: wall time of everyday commands, this checkout against a baseline checkout, in one run.

Each command runs ``--runs`` times in a fresh interpreter (the CLI's own entry point, ``PYTHONPATH`` set to the
checkout), the two checkouts interleaved so load on a shared machine hits both alike; the median is reported.
``--first-search`` adds the first ``search`` on a new, empty data dir (the cost of building or finding the
dense model's ONNX export), ``--first-runs`` times each.

    nice env PYTHONPATH=. .venv/bin/python -m benchmarks.startup --baseline ../main --first-search
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = (("--help",), ("config", "show"), ("documents", "list"), ("index", "stats"))
ENTRY = "import sys; from citewise.cli import app; app(sys.argv[1:], prog_name='citewise')"


def timed(checkout: Path, args: tuple[str, ...], data_dir: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env={**env, "PYTHONPATH": str(checkout), "CITEWISE_DATA_DIR": str(data_dir)},
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: citewise {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of citewise (e.g. main)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-search", action="store_true", help="also time `search` on a new data dir")
    parser.add_argument("--first-runs", type=int, default=2)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEWISE_") or k == "CITEWISE_CACHE_DIR"}
    checkouts = {"baseline": args.baseline.resolve(), "this": REPO}
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="citewise-startup-") as tmp:
        work = Path(tmp)
        for command in COMMANDS:
            times: dict[str, list[float]] = {name: [] for name in checkouts}
            for _ in range(args.runs):
                for name, checkout in checkouts.items():
                    times[name].append(timed(checkout, command, work / f"data-{name}", env))
            results[" ".join(command)] = {name: statistics.median(t) for name, t in times.items()}
        if args.first_search:
            query = ("search", "what causes cancer", "--no-rerank")
            first: dict[str, list[float]] = {name: [] for name in checkouts}
            for n in range(args.first_runs):
                for name, checkout in checkouts.items():
                    data = work / f"new-{name}-{n}"
                    first[name].append(timed(checkout, query, data, env))
                    shutil.rmtree(data, ignore_errors=True)
            results["search, new data dir"] = {name: statistics.median(t) for name, t in first.items()}
    print(f"| command | baseline ({args.baseline}) s | this checkout s | ratio |")
    print("|---|---|---|---|")
    for label, row in results.items():
        ratio = row["baseline"] / row["this"] if row["this"] else float("nan")
        print(f"| `citewise {label}` | {row['baseline']:.2f} | {row['this']:.2f} | {ratio:.1f}x |")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
