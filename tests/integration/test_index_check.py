"""``citewise index check [--repair] [--json]``: each kind of disagreement between docstore and index is found,
counted (lost, duplicated) and repaired back to exactly the clean point set."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.docstore import PendingDocument
from citewise.settings import Settings
from citewise.types import point_id
from ingest import steps
from ingest.check import IndexChecker
from tests.ingest_support import build, check_invariants, doc_chunks, point_set
from tests.paths import CORPUS, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner()
FILES = {"war.txt": "book-war-and-peace-1p.txt", "email.txt": "fake-email.txt", "text.txt": "fake-text.txt"}


@pytest.fixture()
def corpus(clean_env: Path) -> Path:
    folder = clean_env / "docs"
    folder.mkdir()
    for name, src in FILES.items():
        shutil.copyfile(require(CORPUS) / src, folder / name)
    return folder


def _ingest(settings: Settings, dense: Any, sparse: Any, folder: Path) -> dict[str, str]:
    """Ingest ``folder``; returns file name -> doc id."""
    pipeline, index, store = build(settings, dense, sparse)
    try:
        assert pipeline.run([folder], workers=0).ok
        return {Path(r.source).name: r.doc_id for r in store.iter_all()}
    finally:
        pipeline.close()
        index.close()
        store.close()


def _check_json(*extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["index", "check", "--json", *extra])
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.output
    return result.exit_code, json.loads(lines[0])


def test_check_finds_every_kind_of_problem_and_repair_restores_the_clean_index(
    settings: Settings, dense_encoder: Any, bm25_encoder: Any, corpus: Path
) -> None:
    ids = _ingest(settings, dense_encoder, bm25_encoder, corpus)
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    clean = point_set(index)
    assert IndexChecker(index, store).check().clean

    war, email, text = ids["war.txt"], ids["email.txt"], ids["text.txt"]
    assert store.require(war).chunks >= 3
    index.delete_ids([point_id(war, 1)])  # missing: a lost chunk
    first = doc_chunks(index, email)[0]
    tampered = dataclasses.replace(first, text="tampered text")  # mismatch: text no longer the stored text
    index.upsert(steps.encode([tampered], dense_encoder, bm25_encoder))
    stale = dataclasses.replace(first, chunk_index=9, content_hash="0" * 64)  # stale: another version's chunk
    orphan = dataclasses.replace(first, doc_id="f" * 32)  # orphan: a document the docstore does not know
    index.upsert(steps.encode([stale, orphan], dense_encoder, bm25_encoder))
    record = store.require(text)  # pending: a run stopped between docstore begin and commit
    store.begin([PendingDocument(dataclasses.replace(record, pending_hash=record.content_hash), store.get_text(text))])
    pipeline.close()
    index.close()
    store.close()

    code, report = _check_json()
    assert code == 1
    kinds = {(p["kind"], p["doc_id"]) for p in report["problems"]}
    assert kinds == {
        ("missing", war),
        ("mismatch", email),
        ("stale", email),
        ("orphan", "f" * 32),
        ("pending", text),
    }, report
    assert (report["lost"], report["duplicated"], report["pending"], report["clean"]) == (1, 2, 1, False)
    human = runner.invoke(app, ["index", "check"])
    assert human.exit_code == 1 and "index check --repair" in human.stdout and "missing" in human.stdout

    code, repaired = _check_json("--repair")
    assert code == 0, repaired
    assert repaired["clean"] and repaired["repaired"] == 5 and all(p["repaired"] for p in repaired["problems"])
    code, after = _check_json()
    assert code == 0 and after["problems"] == [] and after["points"] == after["expected_points"] == len(clean)

    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    try:
        assert point_set(index) == clean  # exactly the clean index again: same ids, texts, versions
        check_invariants(index, store, int(dense_encoder.max_seq_length), dense_encoder.count_tokens)
    finally:
        pipeline.close()
        index.close()
        store.close()


def test_repair_rebuilds_from_the_stored_text_when_the_source_is_gone(
    settings: Settings, dense_encoder: Any, bm25_encoder: Any, corpus: Path
) -> None:
    ids = _ingest(settings, dense_encoder, bm25_encoder, corpus)
    (corpus / "war.txt").unlink()
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    try:
        war = ids["war.txt"]
        index.delete_ids([point_id(war, 0), point_id(war, 2)])
        checker = IndexChecker(index, store)
        found = checker.check()
        assert found.lost == 2 and [p.kind for p in found.problems] == ["missing"]
        repaired = checker.repair(found, pipeline)
        assert repaired.clean and repaired.points == repaired.expected_points
        assert checker.check().clean
        chunks = doc_chunks(index, war)
        assert chunks and all(c.versions.get("parser") == "docstore-text" for c in chunks)
        check_invariants(index, store, int(dense_encoder.max_seq_length), dense_encoder.count_tokens)
    finally:
        pipeline.close()
        index.close()
        store.close()


def test_an_empty_data_dir_is_clean(clean_env: Path) -> None:
    code, report = _check_json()
    assert code == 0 and report["documents"] == 0 and report["problems"] == []
