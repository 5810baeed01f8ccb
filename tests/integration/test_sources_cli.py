"""``citewise sources`` through the real CLI (CliRunner): bad inputs exit 2 saying what to do; a folder and a
bucket on a local S3-compatible server are added, synced (``--all``, as cron runs it), listed and purged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from tests.ingest_support import one_json_object
from tests.sources_support import put_files, s3_server, small_file

__all__ = ["s3_server"]
pytestmark = [pytest.mark.integration]
runner = CliRunner()


@pytest.fixture()
def folder(clean_env: Path, monkeypatch: pytest.MonkeyPatch, s3_server: Any) -> Path:
    monkeypatch.setenv("CITEWISE_SOURCES__S3_ENDPOINT_URL", s3_server.url)
    monkeypatch.setenv("CITEWISE_INGEST__WORKERS", "0")
    docs = clean_env / "docs"
    docs.mkdir()
    for name in ("fake-text.txt", "README.md"):
        shutil.copy(small_file(name), docs / name)
    return docs


def _fails(args: list[str], *words: str) -> str:
    result = runner.invoke(app, ["sources", *args])
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    text = " ".join(result.stderr.split())
    for word in words:
        assert word in text, text
    return text


def test_bad_inputs_exit_2_with_what_to_do(folder: Path) -> None:
    _fails(["add", "x", "ftp://host/docs"], "unknown URI scheme 'ftp://'", "s3://BUCKET/PREFIX")
    shown = _fails(["add", "x", "s3://AKIA:hunter2@bucket/docs"], "carries credentials", "AWS_PROFILE")
    assert "hunter2" not in shown
    _fails(["add", "x", "s3://no-such-bucket/docs"], "bucket 'no-such-bucket' not found", "create it")
    _fails(["add", "x", str(folder), "--schedule", "nightly"], "not a cron expression", "0 2 * * *")
    _fails(["add", "x", str(folder), "--option", "secret_key=abc"], "looks like a credential")
    _fails(["add", "x", str(folder), "--tag", "novalue"], "key=value")
    _fails(["sync"], "give a source NAME or --all")
    assert runner.invoke(app, ["sources", "add", "docs", str(folder)]).exit_code == 0
    _fails(["add", "docs", str(folder)], "already exists", "citewise sources remove docs")
    missing = runner.invoke(app, ["sources", "sync", "nope"])
    assert missing.exit_code == 1 and "no source named 'nope'" in missing.stderr


def test_add_sync_all_list_and_purge(folder: Path, s3_server: Any) -> None:
    put_files(s3_server.fs, "cli-bucket", "team", ("fake-email.txt",))
    assert runner.invoke(app, ["sources", "add", "docs", str(folder), "--tag", "team=legal"]).exit_code == 0
    added = runner.invoke(app, ["sources", "add", "bucket", "s3://cli-bucket/team", "--schedule", "*/15 * * * *"])
    assert added.exit_code == 0, added.stderr

    first = runner.invoke(app, ["sources", "sync", "--all", "--json"])
    assert first.exit_code == 0, first.stderr
    summary = one_json_object(first)
    assert [r["source"] for r in summary["sources"]] == ["bucket", "docs"]
    assert summary["files"]["ingested"] == 3 and summary["failures"] == []

    (folder / "README.md").unlink()
    (folder / "bad.txt").write_text("")  # an empty file fails with its reason; exit 3
    again = runner.invoke(app, ["sources", "sync", "--all", "--json"])
    assert again.exit_code == 3, again.stderr
    body = one_json_object(again)
    assert body["files"]["removed"] == 1 and body["files"]["unchanged"] == 2
    assert [f["path"] for f in body["failures"]] == [str((folder / "bad.txt").resolve())]

    listed = json.loads(runner.invoke(app, ["sources", "list", "--json"]).stdout)["sources"]
    assert {s["name"]: s["schedule"] for s in listed} == {"bucket": "*/15 * * * *", "docs": None}
    assert all(s["last_sync"]["error"] is None for s in listed)

    purged = runner.invoke(app, ["sources", "remove", "bucket", "--purge", "--json"])
    assert purged.exit_code == 0, purged.stderr
    assert one_json_object(purged) == {"source": "bucket", "documents_deleted": 1}
    docs = runner.invoke(app, ["documents", "list", "--json"])
    assert [Path(d["source"]).name for d in one_json_object(docs)["documents"]] == ["fake-text.txt"]
    kept = runner.invoke(app, ["sources", "remove", "docs"])
    assert kept.exit_code == 0 and "its documents stay indexed" in kept.stdout


def test_sync_reports_done_once(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync ends with one "ingest done" line (each batch's own end used to print one too), last, with the
    sync's totals; batches of one object make that two batches here."""
    monkeypatch.setenv("CITEWISE_SOURCES__FETCH_BATCH", "1")
    assert runner.invoke(app, ["sources", "add", "docs", str(folder)]).exit_code == 0
    result = runner.invoke(app, ["sources", "sync", "docs"])
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("ingest ")]
    assert [line for line in lines if line.startswith("ingest done")] == [lines[-1]], lines
    assert lines[-1].startswith("ingest done: 2/2 files, 0 failed"), lines


def test_globs_add_list_update_and_bad_ones(folder: Path) -> None:
    _fails(["add", "x", str(folder), "--include", ""], "--include '' is empty", "'docs/**'")
    _fails(["add", "x", str(folder), "--exclude", "/abs/drafts/**"], "is absolute", "'**/drafts/**'")
    _fails(["add", "x", str(folder), "--include", "../up/*.pdf"], "contains '..'")
    added = runner.invoke(
        app, ["sources", "add", "docs", str(folder), "--include", "*.md", "--include", "docs/", "--exclude", "x/**"]
    )
    assert added.exit_code == 0, added.stderr
    listed = json.loads(runner.invoke(app, ["sources", "list", "--json"]).stdout)["sources"]
    assert [(s["include"], s["exclude"]) for s in listed] == [(["*.md", "docs/**"], ["x/**"])]
    table = runner.invoke(app, ["sources", "list"]).stdout
    assert "include *.md" in table and "exclude x/**" in table, table

    synced = runner.invoke(app, ["sources", "sync", "docs", "--json"])
    assert one_json_object(synced)["sources"][0]["objects"] == 1  # README.md, not fake-text.txt

    updated = runner.invoke(app, ["sources", "update", "docs", "--clear-include", "--exclude", "*.md", "--json"])
    assert updated.exit_code == 0, updated.stderr
    assert (one_json_object(updated)["include"], one_json_object(updated)["exclude"]) == ([], ["*.md"])
    again = one_json_object(runner.invoke(app, ["sources", "sync", "docs", "--json"]))
    assert again["files"]["ingested"] == 1 and again["files"]["removed"] == 1  # README.md now excluded: pruned
    _fails(["update", "docs"], "nothing to change")
    _fails(["update", "docs", "--include", "a\\b"], "separate folders with '/'")
    assert runner.invoke(app, ["sources", "update", "nope", "--include", "*.md"]).exit_code == 1
