"""The fault suite's shared parts: a tiny real corpus in two versions, the CLI as a subprocess, in-process runs.

Version 1 of the corpus is ingested once (the baseline); version 2 changes two files (one shrinks, one
grows), keeps one, removes one and adds one, so an ingest of it with ``--prune`` goes through every crash
point of ``citewise.faults.POINTS``. Each fault run starts from a copy of the version-1 data dir.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

from citewise import faults
from citewise.docstore import DocStore
from citewise.index import open_index
from citewise.settings import EncoderSettings, IngestSettings, Settings
from ingest.check import CheckReport, IndexChecker
from ingest.pipeline import IngestPipeline
from tests.env_support import clean_environ
from tests.ingest_support import all_chunks
from tests.paths import CORPUS, REPO

SOURCES = {  # name in the test corpus -> file of ../shared/corpora/unstructured-example-docs
    "war.txt": "book-war-and-peace-1p.txt",
    "email.txt": "fake-email.txt",
    "languages.txt": "language-docs/eng_spa_mult.txt",
    "audit.txt": "test_evaluate_files/gold_standard_cct/Performance-Audit-Discussion.pdf.txt",
}
NEW_FILE = ("utf16.txt", "fake-text-utf-16.txt")


def write_v1(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, src in SOURCES.items():
        shutil.copyfile(CORPUS / src, folder / name)


def write_v2(folder: Path) -> None:
    """war.txt shrinks (stale chunks to delete), audit.txt grows, languages.txt goes (prune), utf16.txt is new."""
    war = (folder / "war.txt").read_text()
    (folder / "war.txt").write_text(war[: len(war) // 2])
    extra = (CORPUS / "language-docs" / "eng_afr_spa.txt").read_text()
    with (folder / "audit.txt").open("a") as fh:
        fh.write("\n\n" + extra)
    (folder / "languages.txt").unlink()
    shutil.copyfile(CORPUS / NEW_FILE[1], folder / NEW_FILE[0])


def settings_for(data_dir: Path) -> Settings:
    """In-process settings matching ``cli_env``: torch encoder (the session fixture), one document per batch."""
    return Settings(
        data_dir=data_dir,
        encoder=EncoderSettings(backend="torch"),
        ingest=IngestSettings(workers=0, batch_chunks=1, min_free_mb=0),
        _env_file=None,  # type: ignore[call-arg]
    )


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = clean_environ()
    env.update(
        CITEWISE_DATA_DIR=str(data_dir),
        CITEWISE_ENCODER__BACKEND="torch",  # what the in-process runs use (the collection records the backend)
        CITEWISE_INGEST__BATCH_CHUNKS="1",  # one write step per document: more points to be killed at
        CITEWISE_INGEST__MIN_FREE_MB="0",
        CITEWISE_RETRIEVAL__RERANK="false",
        CITEWISE_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    env.update(extra)
    return env


def cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citewise.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ingest(data_dir: Path, corpus: Path, dense: Any, sparse: Any, count_hits: Counter[str] | None = None) -> Any:
    """An in-process ``citewise ingest CORPUS --prune``; with ``count_hits``, counts each crash point passed."""
    cfg = settings_for(data_dir)
    index = open_index(cfg)
    store = DocStore(cfg.data_dir, index.collection)
    real_hit = faults.hit
    if count_hits is not None:

        def count(name: str) -> None:
            count_hits[name] += 1

        faults.hit = count  # type: ignore[assignment]
    try:
        with IngestPipeline(cfg, index, dense, sparse, store) as pipeline:
            return pipeline.run([corpus], prune=True)
    finally:
        faults.hit = real_hit  # type: ignore[assignment]
        index.close()
        store.close()


def check(data_dir: Path, repair_with: tuple[Any, Any] | None = None) -> CheckReport:
    """``citewise index check`` in this process (``repair_with``: dense and sparse encoders for ``--repair``)."""
    cfg = settings_for(data_dir)
    index = open_index(cfg)
    store = DocStore(cfg.data_dir, index.collection)
    try:
        checker = IndexChecker(index, store)
        report = checker.check()
        if repair_with is not None and not report.clean:
            with IngestPipeline(cfg, index, repair_with[0], repair_with[1], store) as pipeline:
                report = checker.repair(report, pipeline)
        return report
    finally:
        index.close()
        store.close()


def snapshot(data_dir: Path) -> tuple[set[tuple[str, str, str]], dict[str, tuple[str | None, int]]]:
    """(point id, chunk hash, content hash) of every point, and each docstore record's (version, chunks)."""
    cfg = settings_for(data_dir)
    index = open_index(cfg)
    store = DocStore(cfg.data_dir, index.collection)
    try:
        points = {(c.id, c.chunk_hash, c.content_hash) for c in all_chunks(index)}
        records = {r.doc_id: (r.content_hash, r.chunks) for r in store.iter_all()}
        return points, records
    finally:
        index.close()
        store.close()


class Launcher:
    """Client of ``tests.faults.forkserver``: real ``citewise`` CLI runs without paying the imports each time."""

    def __init__(self) -> None:
        env = cli_env(Path(os.devnull))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.forkserver"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._ready = False

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if not self._ready:
            assert json.loads(self.proc.stdout.readline() or "{}").get("ready"), "the fork server did not start"
            self._ready = True
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fork server died"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def start(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
        """Start ``citewise ARGS`` (stdout and stderr to ``log``); returns its pid."""
        return int(self._ask({"op": "start", "args": args, "env": env, "cwd": str(cwd), "log": str(log)})["pid"])

    def wait(self, pid: int, timeout: float = 300) -> int:
        """Its exit code (``-9``: SIGKILLed; 124: still running after ``timeout`` s, so killed)."""
        return int(self._ask({"op": "wait", "pid": pid, "timeout": timeout})["rc"])

    def run(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[int, str]:
        rc = self.wait(self.start(args, env, cwd, log))
        return rc, log.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def copy_data_dir(src: Path, dst: Path) -> None:
    """A copy that keeps the index's sparse files sparse (their apparent size is ~100x what they use)."""
    subprocess.run(["cp", "-a", "--sparse=always", str(src), str(dst)], check=True)


def ingest_uploads(data_dir: Path, files: list[Path], dense: Any, sparse: Any) -> Any:
    """What ``POST /v1/ingest`` of ``files`` does (sources ``upload:<name>``), in this process."""
    cfg = settings_for(data_dir)
    index = open_index(cfg)
    store = DocStore(cfg.data_dir, index.collection)
    try:
        with IngestPipeline(cfg, index, dense, sparse, store) as pipeline:
            names = {str(f): f"upload:{f.name}" for f in files}
            return pipeline.run(files, include=(), exclude=(), source_names=names)
    finally:
        index.close()
        store.close()


def docstore_counts(data_dir: Path) -> tuple[int, int]:
    """(complete, pending) documents, read straight from the docstore file (while no process holds it)."""
    with closing(sqlite3.connect(data_dir / "docstore" / "citewise.sqlite")) as db:
        row = db.execute("SELECT count(*) - count(pending_hash), count(pending_hash) FROM documents").fetchone()
        return int(row[0]), int(row[1])
