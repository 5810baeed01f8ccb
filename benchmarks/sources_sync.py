"""Sync time of an S3 source whose objects did not change, on a local S3-compatible server (moto's server mode).

N SciFact abstracts (real texts from ../shared/datasets/scifact, each cut to ``--chars``) are put in a bucket as
N objects, synced once (ingested with MiniLM and BM25 into a fresh embedded collection), then synced again
unchanged: that sync should cost the listing and nothing else. Then one object is changed and one deleted, and
the sync is timed again.

    PYTHONPATH=. nice .venv/bin/python -m benchmarks.sources_sync --objects 1000 [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("CITEWISE_SHARED_DIR", REPO.parent / "shared")) / "datasets" / "scifact" / "corpus.jsonl"


def _texts(limit: int, chars: int) -> list[str]:
    """The first ``limit`` abstracts, each cut to about ``chars`` characters at a word boundary (one chunk each:
    the first sync's encoding is not what is measured)."""
    out = []
    with SCIFACT.open() as fh:
        for line in fh:
            doc = json.loads(line)
            text = doc["text"] if len(doc["text"]) <= chars else doc["text"][:chars].rsplit(" ", 1)[0]
            out.append(f"{doc['title']}\n\n{text}\n")
            if len(out) >= limit:
                break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="unchanged syncs timed (the median is reported)")
    parser.add_argument("--chars", type=int, default=400, help="characters kept of each abstract")
    parser.add_argument("--profile", action="store_true", help="print where one unchanged sync spends its time")
    args = parser.parse_args()
    if not SCIFACT.is_file():
        print(f"SciFact not found at {SCIFACT} (set CITEWISE_SHARED_DIR)", file=sys.stderr)
        return 1
    import logging

    import fsspec
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    fs = fsspec.filesystem("s3", endpoint_url=url, skip_instance_cache=True)
    fs.mkdir("bench")
    texts = _texts(args.objects, args.chars)
    t0 = time.perf_counter()
    fs.pipe({f"bench/scifact/{i:05d}.txt": text.encode() for i, text in enumerate(texts)})
    put_s = time.perf_counter() - t0

    from citewise.docstore import DocStore
    from citewise.encoders import Bm25Encoder, SentenceTransformerEncoder
    from citewise.index import open_index
    from citewise.settings import load_settings
    from ingest.pipeline import IngestPipeline
    from ingest.sources.listing import SourceReader
    from ingest.sources.spec import make_spec
    from ingest.sources.store import SourceStore
    from ingest.sources.sync import SourceSync

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", sources={"s3_endpoint_url": url}, ingest={"workers": 0})
        index = open_index(settings)
        docstore = DocStore(settings.data_dir, index.collection)
        store = SourceStore(settings.data_dir, index.collection)
        dense = SentenceTransformerEncoder.from_settings(settings.encoder)
        with IngestPipeline(settings, index, dense, Bm25Encoder(), docstore) as pipeline:
            spec = store.add(make_spec("bench", "s3://bench/scifact"))
            syncer = SourceSync(pipeline, store, settings)
            first = syncer.sync("bench")
            assert first.summary.files.ingested == len(texts), first.summary.failures
            listings, syncs, shares = [], [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                listed = SourceReader(spec, settings).objects()
                listings.append(time.perf_counter() - t0)
                assert len(listed) == len(texts)
                t0 = time.perf_counter()
                again = syncer.sync("bench")
                syncs.append(time.perf_counter() - t0)
                assert again.summary.files.unchanged == len(texts), again.summary.files
                shares.append(again.list_s / again.summary.elapsed_s)  # within the same sync: immune to load swings
            if args.profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.runcall(syncer.sync, "bench")
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
            fs.pipe("bench/scifact/00000.txt", b"A changed abstract about sleep and memory consolidation.\n")
            fs.rm("bench/scifact/00001.txt")
            t0 = time.perf_counter()
            changed = syncer.sync("bench")
            changed_s = time.perf_counter() - t0
        store.close()
        docstore.close()
        index.close()
    server.stop()
    listing, sync = statistics.median(listings), statistics.median(syncs)
    print(
        json.dumps(
            {
                "objects": len(texts),
                "put_s": round(put_s, 2),
                "first_sync_s": first.summary.elapsed_s,
                "first_sync_chunks": first.summary.chunks.added,
                "unchanged_sync_s_median": round(sync, 3),
                "unchanged_sync_runs_s": [round(s, 3) for s in syncs],
                "listing_s_median": round(listing, 3),
                "listing_share_within_sync_median": round(statistics.median(shares), 3),
                "listing_share_within_sync_runs": [round(x, 3) for x in shares],
                "one_changed_one_deleted_sync_s": round(changed_s, 3),
                "changed_files": {"changed": changed.summary.files.changed, "removed": changed.summary.files.removed},
                "load_avg_1m": round(os.getloadavg()[0], 1),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
