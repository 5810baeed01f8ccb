"""Feedback → eval set round trip: answers rated through the real API (embedded index, real MiniLM, a real corpus
file), exported with `citewise eval export-feedback` (deduplicated, PII masked), answered again by
`citewise eval answers --qa` from the same data dir, and read by `citewise tune retrieval|encoder --feedback`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import create_app
from citewise.cli import app as cli
from citewise.settings import load_settings
from tests.api_support import upload, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOOK = "book-war-and-peace-1p.txt"
ANNA = "Who was Anna Pavlovna Scherer?"
CORRECTION = "A maid of honor of the Empress; write to anna.s@example.org or call +7 495 123-45-67."
VASILI = "Who was the first to arrive at the reception?"
PRIVATE = "My customer number is 123456789: what was Anna Pavlovna suffering from?"
UNRATED = "What year does the story begin?"


def _ask_and_rate(client: Any, question: str, rating: str, correction: str | None = None) -> None:
    answer = client.post("/v1/ask", json={"question": question, "k": 3})
    assert answer.status_code == 200, answer.text
    body = {"answer_id": answer.json()["answer_id"], "rating": rating, "correction": correction}
    assert client.post("/v1/feedback", json=body).status_code == 201


def test_exported_feedback_is_deduplicated_masked_and_answered_again(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, dense_encoder: Any, bm25_encoder: Any
) -> None:
    monkeypatch.setenv("CITEWISE_RETRIEVAL__RERANK", "false")
    monkeypatch.setenv("CITEWISE_INGEST__WORKERS", "0")
    settings = load_settings()
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        assert wait_job(client, upload(client, (BOOK,)))["state"] == "done"
        _ask_and_rate(client, ANNA, "up")
        _ask_and_rate(client, "who was anna pavlovna  scherer", "down", CORRECTION)  # same question: correction wins
        _ask_and_rate(client, VASILI, "up")
        _ask_and_rate(client, PRIVATE, "up")
        _ask_and_rate(client, UNRATED, "down")  # no correction: nothing to learn from
    out = clean_env / "sets" / "feedback.jsonl"

    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "export-feedback", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["written"] == 3 and summary["corrections"] == 1 and summary["thumbs_up"] == 2
    assert summary["duplicates"] == 1 and summary["skipped_no_correction"] == 1
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_question = {r["question"]: r for r in rows}
    assert ANNA not in by_question
    anna = by_question["who was anna pavlovna  scherer"]  # the corrected answer's row, its wording
    assert anna["rating"] == "down" and anna["reference"] == anna["correction"]
    assert anna["reference"] == "A maid of honor of the Empress; write to [email] or call [phone]."
    assert "My customer number is [number]: what was Anna Pavlovna suffering from?" in by_question
    vasili = by_question[VASILI]
    assert vasili["reference"] and "[" not in vasili["reference"] and vasili["variant"]["model"] == "extractive"
    assert all(r["reference_contexts"] for r in rows if r["answerable"])
    text = out.read_text(encoding="utf-8")
    assert "example.org" not in text and "123456789" not in text and "495" not in text
    assert len({r["id"] for r in rows}) == 3

    result = runner.invoke(cli, ["eval", "answers", "--qa", str(out), "--json", "--k", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dataset"]["questions"] == 3 and report["dataset"]["name"] == "feedback"
    assert report["metrics"] and report["collection"] == settings.qdrant.collection

    tuned = runner.invoke(cli, ["tune", "retrieval", "--feedback", str(out), "--dry-run", "--json"])
    assert tuned.exit_code == 0, tuned.output
    tuning = json.loads(tuned.stdout)
    assert tuning["collection"] == settings.qdrant.collection and tuning["stored"] is None
    assert tuning["feedback"] == {"questions": 2, "left_out": {"unanswerable": 1}}  # an approved abstention
    assert sum(tuning["queries"].values()) == 2  # both answered questions found their quotes
    adapted = runner.invoke(cli, ["tune", "encoder", "--feedback", str(out), "--collection", settings.qdrant.collection,
                                  "--dry-run", "--json"])  # fmt: skip
    assert adapted.exit_code == 0, adapted.output
    encoder = json.loads(adapted.stdout)
    assert encoder["signal"] == "feedback feedback.jsonl (2 questions, 1 left out: unanswerable)"
    assert encoder["held_out"] == {"queries": 1, "from": "a fifth of the feedback"} and encoder["pairs"] == 1
    assert encoder["dry_run"] and set(encoder["before"]) == {"dense", "hybrid"}  # measured, trained nothing
    assert "Prince Vasili Kuragin" in encoder["example"]["positive"]  # the chunk holding the quote it cited
    lost = clean_env / "sets" / "lost.jsonl"
    lost.write_text(json.dumps({"question": "Who?", "reference_contexts": ["a sentence no document holds at all"]}))
    for command in (["tune", "retrieval", "--feedback", str(lost)], ["tune", "encoder", "--feedback", str(out)]):
        refused = runner.invoke(cli, command)
        assert refused.exit_code == 2, refused.output
    said = " ".join(runner.invoke(cli, ["tune", "retrieval", "--feedback", str(lost)]).output.split())
    assert "no question can be used (1 quotes not found)" in said
    assert "pass --collection" in " ".join(
        runner.invoke(cli, ["tune", "encoder", "--feedback", str(out)]).output.split()
    )
    wrong = runner.invoke(cli, ["tune", "retrieval", "--feedback", str(clean_env / "sets" / "x.json")])
    assert wrong.exit_code == 2 and "export-feedback" in wrong.output

    empty = runner.invoke(cli, ["eval", "export-feedback", "--out", str(out), "--tenant", "nobody"])
    assert empty.exit_code == 2 and "no exportable feedback" in empty.output
    bad = runner.invoke(cli, ["eval", "export-feedback", "--out", str(clean_env / "x.csv")])
    assert bad.exit_code == 2 and ".jsonl" in bad.output
