"""``citewise ingest`` and ``citewise documents`` through the real CLI (CliRunner), on real corpus files."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from tests.ingest_support import one_json_object
from tests.paths import CORPUS, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner()
GOOD = ["README.md", "fake-text.txt", "stanley-cups.csv"]
SUMMARY_KEYS = {"files", "chunks", "failures", "elapsed_s", "collection"}


@pytest.fixture()
def tree(clean_env: Path) -> Path:
    folder = clean_env / "docs"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(require(CORPUS) / name, folder / name)
    return folder


def test_usage_errors_exit_2_before_any_work(tree: Path) -> None:
    bad_tag = runner.invoke(app, ["ingest", str(tree), "--tag", "novalue"])
    assert bad_tag.exit_code == 2 and "key=value" in bad_tag.stderr
    missing = runner.invoke(app, ["ingest", str(tree / "nope"), "--json"])
    assert missing.exit_code == 2 and "path not found" in missing.stderr and missing.stdout == ""
    assert runner.invoke(app, ["ingest", str(tree), "--workers", "-3"]).exit_code == 2
    # a group no API key could ever hold would make the documents unreadable: refused, with the rule
    bad_acl = runner.invoke(app, ["ingest", str(tree), "--acl", "hr", "--acl", "human resources"])
    assert bad_acl.exit_code == 2 and "--acl group 'human resources' is invalid" in bad_acl.stderr
    bad_tenant = runner.invoke(app, ["ingest", str(tree), "--tenant", "acme/eu"])
    assert bad_tenant.exit_code == 2 and "--tenant 'acme/eu' is invalid" in bad_tenant.stderr
    assert not (tree.parent / "data" / "docstore").exists(), "a usage error must not touch the data dir"


def test_ingest_prune_and_documents(tree: Path) -> None:
    # 1. a clean run with a parser process: exit 0, one JSON object, tags on every document
    first = runner.invoke(app, ["ingest", str(tree), "--json", "--tag", "team=docs", "--workers", "1"])
    assert first.exit_code == 0, first.output
    summary = one_json_object(first)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["files"] == {"ingested": 3, "unchanged": 0, "changed": 0, "removed": 0, "failed": 0}
    assert summary["chunks"]["added"] >= 3 and summary["chunks"]["removed"] == 0
    assert summary["failures"] == [] and summary["elapsed_s"] > 0 and summary["collection"] == "citewise"
    assert multiprocessing.active_children() == [], "the command must stop its parser processes"

    listed = one_json_object(runner.invoke(app, ["documents", "list", "--json"]))
    assert listed["total"] == 3
    docs = {Path(d["source"]).name: d for d in listed["documents"]}
    assert set(docs) == set(GOOD)
    assert all(d["tags"] == {"team": "docs"} for d in docs.values())
    assert sum(d["chunks"] for d in docs.values()) == summary["chunks"]["added"]

    # 2. one file gone, one bad file added, --prune: exit 3 with the failure and its reason
    gone = docs["stanley-cups.csv"]
    (tree / "stanley-cups.csv").unlink()
    shutil.copy(CORPUS / "empty.txt", tree / "empty.txt")
    second = runner.invoke(app, ["ingest", str(tree), "--json", "--tag", "team=docs", "--prune", "--workers", "0"])
    assert second.exit_code == 3, second.output
    summary = one_json_object(second)
    assert summary["files"] == {"ingested": 0, "unchanged": 2, "changed": 0, "removed": 1, "failed": 1}
    assert summary["chunks"] == {"added": 0, "removed": gone["chunks"]}
    [failure] = summary["failures"]
    assert failure["path"].endswith("empty.txt") and "empty file" in failure["reason"]

    # 3. the human summary: a table on stdout, the failure listed with its reason
    third = runner.invoke(app, ["ingest", str(tree), "--tag", "team=docs", "--workers", "0"])
    assert third.exit_code == 3
    assert "unchanged" in third.stdout and "1 files could not be ingested" in third.stdout
    assert f"{(tree / 'empty.txt').resolve()}: empty file" in third.stdout  # whole path, copyable

    # 4. documents show / delete
    readme = docs["README.md"]
    shown = one_json_object(runner.invoke(app, ["documents", "show", readme["doc_id"], "--json", "--text"]))
    assert shown["document"]["doc_id"] == readme["doc_id"] and shown["document"]["file_type"] == "md"
    first_line = (tree / "README.md").read_text().splitlines()[0].lstrip("# ").strip()
    assert first_line in shown["text"]
    deleted = runner.invoke(app, ["documents", "delete", readme["doc_id"]])
    assert deleted.exit_code == 0 and f"({readme['chunks']} chunks)" in deleted.stdout
    missing = runner.invoke(app, ["documents", "show", readme["doc_id"]])
    assert missing.exit_code == 1 and "documents list" in missing.stderr
    assert runner.invoke(app, ["documents", "delete", readme["doc_id"]]).exit_code == 1
    left = one_json_object(runner.invoke(app, ["documents", "list", "--json"]))
    assert [d["source"] for d in left["documents"]] == [docs["fake-text.txt"]["source"]]
    stats = one_json_object(runner.invoke(app, ["index", "stats", "--json"]))
    assert stats["points"] == docs["fake-text.txt"]["chunks"]
