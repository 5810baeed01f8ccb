"""A ``citewise ingest`` SIGKILLed mid-run, then run again, ends with exactly the point set of a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citewise.index import Index
from citewise.settings import load_settings
from tests.env_support import clean_environ
from tests.ingest_support import build, check_invariants, committed_documents
from tests.paths import REPO, scifact_docs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_DOCS = 12
KILL_AFTER = 3  # committed documents before the kill


def _cli(data_dir: Path, folder: Path) -> subprocess.Popen[str]:
    env = clean_environ()
    env.update(
        CITEWISE_DATA_DIR=str(data_dir),
        CITEWISE_ENCODER__BACKEND="torch",  # the in-process runs below use the torch encoder fixture
        CITEWISE_INGEST__BATCH_CHUNKS="1",  # one write step per document: many points to be killed at
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "citewise.cli", "ingest", str(folder), "--workers", "0"],
        cwd=data_dir.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _points(index: Index) -> dict[str, tuple[dict[str, Any], np.ndarray]]:
    points, offset = {}, None
    while True:
        records, offset = index.scroll(limit=256, offset=offset, with_vectors=True)
        points.update({r.id: (r.payload, np.asarray(r.dense)) for r in records})
        if offset is None:
            return points


def test_sigkilled_run_resumes_to_the_clean_point_set(clean_env: Path, dense_encoder: Any, bm25_encoder: Any) -> None:
    folder = clean_env / "abstracts"
    folder.mkdir()
    for d in scifact_docs(N_DOCS):
        (folder / f"{d['_id']}.md").write_text(f"# {d['title']}\n\n{d['text']}\n")

    killed_dir = clean_env / "killed"
    killed_dir.mkdir()
    db = killed_dir / "docstore" / "citewise.sqlite"
    proc = _cli(killed_dir, folder)
    deadline = time.monotonic() + 120
    while committed_documents(db) < KILL_AFTER:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "no document was committed in time"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    at_kill = committed_documents(db)
    assert KILL_AFTER <= at_kill < N_DOCS, at_kill

    # run again (in this process, to load the model once), and a clean run into another data dir: the same
    # folder, so the same sources and ids; the default batch size, so other write steps than the killed run's
    runs = {}
    for name, data_dir in (("resumed", killed_dir), ("clean", clean_env / "clean")):
        pipeline, index, store = build(load_settings(data_dir=data_dir), dense_encoder, bm25_encoder)
        with pipeline:
            summary = pipeline.run([folder], workers=0)
        assert summary.ok and summary.files.unchanged + summary.files.ingested == N_DOCS
        runs[name] = (summary, index, store)
    resumed, index, store = runs["resumed"]
    clean, clean_index, clean_store = runs["clean"]
    assert resumed.files.unchanged >= at_kill and clean.files.ingested == N_DOCS
    try:
        points, clean_points = _points(index), _points(clean_index)
        assert check_invariants(index, store, dense_encoder.max_seq_length, dense_encoder.count_tokens) == len(
            clean_points
        )
        assert set(points) == set(clean_points)
        for point_id, (payload, vector) in clean_points.items():
            assert points[point_id][0] == payload, point_id
            assert np.allclose(points[point_id][1], vector, atol=1e-4), point_id
        assert [r.doc_id for r in store.list()] == [r.doc_id for r in clean_store.list()]
        assert all(r.complete for r in store.list())
    finally:
        for _, idx, st in runs.values():
            idx.close()
            st.close()
