"""``citewise search`` end to end (CliRunner): real index of SciFact abstracts, real encoders, JSON output."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.encoders import collection_spec
from citewise.index import open_index
from citewise.settings import Settings
from tests.paths import scifact_docs
from tests.retrieval_support import points_for, scifact_chunk

pytestmark = pytest.mark.integration

runner = CliRunner()
HIT_FIELDS = {"doc_id", "score", "source", "page_start", "page_end", "char_start", "char_end", "text"}


@pytest.fixture()
def indexed(settings: Settings, dense_encoder: Any, bm25_encoder: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A closed index of 30 abstracts for the default tenant (the last readable by ACL group hr only) and 10 for
    another (the CLI opens it itself)."""
    docs = scifact_docs(40)
    chunks = [scifact_chunk(d) for d in docs[:29]] + [replace(scifact_chunk(docs[29]), acl=("hr",))]
    chunks += [scifact_chunk(d, tenant="acme") for d in docs[30:]]
    index = open_index(settings)
    index.ensure(collection_spec(dense_encoder))
    index.upsert(points_for(chunks, dense_encoder, bm25_encoder))
    index.close()
    monkeypatch.setenv("CITEWISE_RETRIEVAL__RERANKER_MODEL", str(settings.data_dir / "no-such-reranker"))
    return settings


def search(*args: str) -> Any:
    return runner.invoke(app, ["search", *args])


def test_json_output(indexed: Settings) -> None:
    doc = scifact_docs(3)[2]
    result = search(doc["title"], "--json", "--k", "5", "--no-rerank")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"hits", "timings_ms", "rerank_status", "fusion", "query_lang", "signals", "signals_reason"}
    assert data["fusion"]["mode"] == "hybrid" and data["fusion"]["origin"] == "settings"
    assert data["rerank_status"] == "skipped"
    assert {"encode", "retrieve", "total"} <= set(data["timings_ms"])
    assert len(data["hits"]) == 5
    top = data["hits"][0]
    assert set(top) >= HIT_FIELDS
    assert top["doc_id"] == doc["_id"]
    assert top["text"] == f"{doc['title']} {doc['text']}"[top["char_start"] : top["char_end"]]
    scores = [h["score"] for h in data["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_modes_filters_and_tenant(indexed: Settings) -> None:
    docs = scifact_docs(40)
    for mode in ("dense", "sparse", "hybrid"):
        out = search(docs[5]["title"], "--json", "--mode", mode, "--no-rerank", "--filter", f"doc_id={docs[5]['_id']}")
        assert out.exit_code == 0, out.output
        assert [h["doc_id"] for h in json.loads(out.stdout)["hits"]] == [docs[5]["_id"]]
    # another tenant's abstract is invisible by default and visible with --tenant
    other = docs[35]
    mine = json.loads(search(other["title"], "--json", "--k", "30", "--no-rerank").stdout)["hits"]
    assert other["_id"] not in {h["doc_id"] for h in mine}
    theirs = json.loads(search(other["title"], "--json", "--tenant", "acme", "--no-rerank").stdout)["hits"]
    assert theirs[0]["doc_id"] == other["_id"] and len(theirs) == 10


def test_group_option_applies_acls(indexed: Settings) -> None:
    restricted = scifact_docs(30)[29]

    def found(*groups: str) -> bool:
        args = [a for g in groups for a in ("--group", g)]
        out = search(restricted["title"], "--json", "--k", "30", "--no-rerank", *args)
        assert out.exit_code == 0, out.output
        return restricted["_id"] in {h["doc_id"] for h in json.loads(out.stdout)["hits"]}

    assert found()  # the operator's CLI checks no ACL unless asked to
    assert found("hr") and found("eng", "hr")
    assert not found("eng")


def test_rerank_unavailable_still_answers(indexed: Settings) -> None:
    out = search("cancer risk", "--json", "--k", "3")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["rerank_status"].startswith("unavailable: cannot load reranker")
    assert len(data["hits"]) == 3


def test_table_output(indexed: Settings) -> None:
    out = search("cancer risk", "--k", "2", "--no-rerank")
    assert out.exit_code == 0, out.output
    assert "2 hits" in out.stdout and "retrieve" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "author=me"], "unknown filter 'author'"),
        (["--filter", "modified_after=soon"], "is not an ISO date"),
        (["--mode", "semantic"], "mode 'semantic' is unknown"),
        (["--k", "0"], "--k"),
        (["--group", "no spaces!"], "--group 'no spaces!' is invalid"),
    ],
)
def test_bad_arguments_exit_2(clean_env: Path, args: list[str], message: str) -> None:
    out = search("anything", *args)
    assert out.exit_code == 2
    assert message in " ".join(out.output.split())


def test_no_reranker_says_so_in_one_line_and_ask_takes_no_rerank(indexed: Settings) -> None:
    out = search("cancer risk", "--k", "2")
    assert out.exit_code == 0, out.output
    notice = [line for line in out.stderr.splitlines() if "no reranking" in line]
    assert len(notice) == 1 and "--no-rerank" in notice[0]
    quiet = search("cancer risk", "--k", "2", "--no-rerank")
    assert "no reranking" not in quiet.stderr and "rerank: skipped" in quiet.stdout
    asked = runner.invoke(app, ["ask", "What raises cancer risk?", "--no-rerank", "--json"])
    assert asked.exit_code in (0, 4), asked.output
    assert "no reranking" not in asked.stderr and json.loads(asked.stdout)["timings_ms"]["retrieve"] > 0


def test_no_reranker_model_means_no_load_attempt(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16: a `search` without a reranker model costs what `--no-rerank` costs. Checked without timing: the
    model is resolved on the file system only, and nothing tries to load it (no sentence-transformers load)."""
    import retrieval.rerank as rr

    loads: list[str] = []
    monkeypatch.setattr(rr.CrossEncoderReranker, "load", lambda self: loads.append(self.model_name))
    monkeypatch.setattr(rr, "_FAILURES", {})
    monkeypatch.setattr(rr, "_LOCATIONS", {})
    out = search("cancer risk", "--k", "2", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rerank_status"].startswith("unavailable") and loads == []
    asked = runner.invoke(app, ["ask", "What raises cancer risk?", "--json"])
    assert asked.exit_code in (0, 4), asked.output
    assert loads == []
