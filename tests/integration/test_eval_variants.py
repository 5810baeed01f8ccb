"""``citewise eval answers --variants``: one SQuAD 2.0 slice (real data, real MiniLM, embedded index) answered by
two variants of an experiment file (extractive answerer, k=1 vs k=5), scored side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from tests.env_support import without_citewise
from tests.paths import SQUAD2, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = {
    "name": "depth",
    "variants": [{"name": "k1", "share": 0.5, "k": 1}, {"name": "k5", "share": 0.5, "k": 5, "rerank": False}],
}


def test_two_variants_answer_the_same_questions_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_citewise(monkeypatch)
    data = json.loads(require(SQUAD2).read_text())
    paragraphs = [
        dict(p, qas=[q for q in p["qas"] if not q["is_impossible"]]) for p in data["data"][0]["paragraphs"][:3]
    ]
    squad = tmp_path / "normans.json"
    squad.write_text(json.dumps({"version": "v2.0", "data": [dict(data["data"][0], paragraphs=paragraphs)]}))
    (tmp_path / "experiment.json").write_text(json.dumps(EXPERIMENT))
    monkeypatch.setenv("CITEWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITEWISE_RETRIEVAL__RERANK", "false")
    monkeypatch.setenv("CITEWISE_EXPERIMENTS_FILE", str(tmp_path / "experiment.json"))
    base = ["eval", "answers", "--qa", str(squad), "--limit", "6", "--llm", "extractive"]

    result = CliRunner().invoke(app, [*base, "--variants", "k1,k5", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["experiment"] == "depth" and list(report["variants"]) == ["k1", "k5"]
    k1, k5 = report["variants"]["k1"], report["variants"]["k5"]
    assert k1["k"] == 1 and k5["k"] == 5 and k5["overrides"] == {"k": 5, "rerank": False}
    assert k1["dataset"]["questions"] == k5["dataset"]["questions"] == 6
    assert set(report["metrics"]["containment"]) == {"k1", "k5"}
    assert report["metrics"]["answered"]["k5"] is not None

    bad = CliRunner().invoke(app, [*base, "--variants", "k1,k9"])
    assert bad.exit_code == 2 and "unknown: k9" in bad.output
    monkeypatch.delenv("CITEWISE_EXPERIMENTS_FILE")
    none = CliRunner().invoke(app, [*base, "--variants", "k1,k5"])
    assert none.exit_code == 2 and "CITEWISE_EXPERIMENTS_FILE" in none.output
