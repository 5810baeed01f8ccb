"""``citewise eval answers --variants``: one SQuAD 2.0 slice (real data, real MiniLM, embedded index) answered by
two variants of an experiment file, scored side by side: the extractive answerer at k=1 vs k=5, and the offline
answerer vs the real local LLM (SmolLM2-135M behind llama.cpp's OpenAI-compatible server, ``tests/llm_server``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from tests.env_support import without_citewise
from tests.llm_server import MODEL_NAME
from tests.paths import SQUAD2, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = {
    "name": "depth",
    "variants": [{"name": "k1", "share": 0.5, "k": 1}, {"name": "k5", "share": 0.5, "k": 5, "rerank": False}],
}


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, experiment: Mapping[str, object]) -> Path:
    """The first 3 paragraphs of SQuAD 2.0's first article (answerable questions) and the experiment file."""
    without_citewise(monkeypatch)
    data = json.loads(require(SQUAD2).read_text())
    paragraphs = [
        dict(p, qas=[q for q in p["qas"] if not q["is_impossible"]]) for p in data["data"][0]["paragraphs"][:3]
    ]
    squad = tmp_path / "normans.json"
    squad.write_text(json.dumps({"version": "v2.0", "data": [dict(data["data"][0], paragraphs=paragraphs)]}))
    (tmp_path / "experiment.json").write_text(json.dumps(experiment))
    monkeypatch.setenv("CITEWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITEWISE_RETRIEVAL__RERANK", "false")
    monkeypatch.setenv("CITEWISE_EXPERIMENTS_FILE", str(tmp_path / "experiment.json"))
    return squad


def test_two_variants_answer_the_same_questions_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    squad = _setup(tmp_path, monkeypatch, EXPERIMENT)
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


def test_offline_answerer_against_the_real_local_llm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_server: str
) -> None:
    """A model change judged before it ships: the same questions through the offline answerer and SmolLM2; the LLM
    variant's report names the model, counts its fallbacks to the offline answerer and keeps every quote exact."""
    smol = f"openai-like:{MODEL_NAME}"
    experiment = {
        "name": "model",
        "variants": [
            {"name": "offline", "share": 0.5, "llm": "extractive"},
            {"name": "smol", "share": 0.5, "llm": smol},
        ],
    }
    squad = _setup(tmp_path, monkeypatch, experiment)
    monkeypatch.setenv("CITEWISE_GENERATION__BASE_URL", llm_server)
    monkeypatch.setenv("CITEWISE_GENERATION__MAX_TOKENS", "60")
    monkeypatch.setenv("CITEWISE_GENERATION__TIMEOUT_S", "300")  # a loaded 2-core machine can be slow
    full = tmp_path / "variants.json"
    args = ["eval", "answers", "--qa", str(squad), "--limit", "3", "--k", "3", "--variants", "offline,smol"]
    args += ["--json", "--json-out", str(full)]

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {n: r["per_question"] for n, r in json.loads(full.read_text())["variants"].items()}
    assert all(r["model"] == "extractive" and r["fallback_from"] is None for r in rows["offline"])
    assert all(r["model"] == smol or r["fallback_from"] == smol for r in rows["smol"])  # each went to the LLM
    assert sum(r["fallback_from"] == smol for r in rows["smol"]) == report["variants"]["smol"]["fallbacks"]
    offline, llm = report["variants"]["offline"], report["variants"]["smol"]
    assert offline["llm"] == "extractive" and llm["llm"] == smol and llm["overrides"] == {"llm": smol}
    assert offline["dataset"]["questions"] == llm["dataset"]["questions"] == 3
    assert offline["fallbacks"] == 0 and 0 <= llm["fallbacks"] <= 3
    assert report["metrics"]["exact_quote"]["offline"] == 1.0
    assert report["metrics"]["exact_quote"]["smol"] in (1.0, None)  # None only when nothing was cited
    assert set(report["metrics"]["containment"]) == {"offline", "smol"}
    assert llm["ingest"]["unchanged"] == 3  # the second variant reuses the collection the first one built
