"""``citewise eval answers`` for real on a slice of SQuAD 2.0: extractive answers scored by our metrics and the
non-LLM RAGAS metrics; then SmolLM2 (llama.cpp server) answering and judging RAGAS faithfulness."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from tests.env_support import isolated_env
from tests.llm_server import MODEL_NAME
from tests.paths import SQUAD2, require

pytestmark = pytest.mark.integration


def _slice(folder: Path, name: str, answerable_only: bool) -> Path:
    """The first 4 paragraphs of the first article with their questions (only answerable ones, if asked)."""
    data = json.loads(require(SQUAD2).read_text())
    paragraphs = [
        dict(p, qas=[q for q in p["qas"] if not (answerable_only and q["is_impossible"])])
        for p in data["data"][0]["paragraphs"][:4]
    ]
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [dict(data["data"][0], paragraphs=paragraphs)]}))
    return path


@pytest.fixture(scope="module")
def squad_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _slice(tmp_path_factory.mktemp("squad"), "normans", answerable_only=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("answers")
    with isolated_env(root / "data"):
        yield root


def _eval(args: list[str]) -> Any:
    return CliRunner().invoke(app, ["eval", "answers", *args])


@pytest.mark.slow
def test_extractive_answers_scored_reported_and_gated(env: Path, squad_slice: Path) -> None:
    html, full = env / "answers.html", env / "answers.json"
    args = ["--qa", str(squad_slice), "--limit", "8", "--llm", "extractive", "--json", "--report", str(html)]
    result = _eval([*args, "--json-out", str(full)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["judge"] is None and report["judge_calls"] == 0
    assert report["dataset"]["questions"] == 8 and 0 < report["dataset"]["answerable"] < 8
    assert report["ingest"]["ingested"] == report["dataset"]["documents"] == 4
    metrics = report["metrics"]
    assert metrics["exact_quote"] == 1.0  # extractive quotes are source spans, checked against the docstore
    for name in ("abstention_accuracy", "answered", "containment", "token_f1", "citation_precision"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert "ragas/nonllm_context_recall" in metrics and "ragas/string_presence" in metrics
    assert not any(k in metrics for k in ("ragas/faithfulness", "ragas/context_recall"))  # no judge, no LLM metrics

    rows = json.loads(full.read_text())["per_question"]
    cited = next(r for r in rows if r["citations"])
    assert all(c["exact"] for c in cited["citations"]) and cited["citations"][0]["quote"]
    page = html.read_text()
    assert escape(cited["question"]) in page and escape(cited["citations"][0]["quote"]) in page
    assert 'src="data:image/png;base64,' in page

    raised = env / "raised.json"
    raised.write_text(json.dumps({"metrics": {"exact_quote": 1.0, "token_f1": metrics["token_f1"] + 0.1}}))
    again = _eval([*args, "--baseline", str(raised)])
    assert again.exit_code == 4 and "regression: token_f1" in " ".join(again.stderr.split())
    assert json.loads(again.stdout)["ingest"]["unchanged"] == 4  # the collection is reused


def test_judge_metrics_need_a_judge(env: Path, squad_slice: Path) -> None:
    result = _eval(["--qa", str(squad_slice), "--llm", "extractive", "--metrics", "faithfulness"])
    assert result.exit_code == 2 and "need a judge LLM" in result.stderr
    result = _eval(["--qa", str(squad_slice), "--metrics", "bleu9"])
    assert result.exit_code == 2 and "unknown RAGAS metric" in result.stderr
    result = _eval(["--qa", str(env / "none.jsonl")])
    assert result.exit_code == 2 and "QA file not found" in result.stderr


@pytest.mark.slow
def test_ragas_faithfulness_with_the_local_llm_judge(
    env: Path, llm_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extractive answers (never abstained on these), SmolLM2 judging faithfulness: its verdicts mean little, but
    every step (judge calls through the llama-index wrapper, output constrained to each prompt's JSON schema by
    llama.cpp, parsing, the score) is real, and every question gets a score."""
    monkeypatch.setenv("CITEWISE_GENERATION__BASE_URL", llm_server)
    monkeypatch.setenv("CITEWISE_GENERATION__MODEL", MODEL_NAME)
    monkeypatch.setenv("CITEWISE_GENERATION__MAX_TOKENS", "80")
    monkeypatch.setenv("CITEWISE_EVALS__JUDGE_MAX_TOKENS", "1024")  # fits: 6 statements of 300 characters at most
    monkeypatch.setenv("CITEWISE_EVALS__JUDGE_WORKERS", "1")
    monkeypatch.setenv("CITEWISE_EVALS__JUDGE_RESPONSE_FORMAT", "json_object")  # llama-cpp-python's form
    for var in ("CITEWISE_GENERATION__TIMEOUT_S", "CITEWISE_EVALS__JUDGE_TIMEOUT_S"):
        monkeypatch.setenv(var, "300")  # generous: a loaded 2-core machine can be slow even for a 135M model
    answerable = _slice(env, "normans_answerable", answerable_only=True)
    args = ["--qa", str(answerable), "--limit", "2", "--k", "2", "--llm", "extractive", "--json"]
    full = env / "judged.json"
    judge = ["--judge-llm", f"openai-like:{MODEL_NAME}", "--metrics", "faithfulness,string_presence"]
    result = _eval([*args, *judge, "--json-out", str(full)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["judge"] == f"openai-like:{MODEL_NAME}" and report["judge_calls"] >= 1
    assert report["llm"] == "extractive" and all(
        not row["abstained"] for row in json.loads(full.read_text())["per_question"]
    )
    faith = report["metrics"].get("ragas/faithfulness")
    assert faith is not None and 0.0 <= faith <= 1.0, report["notes"]
    assert not any("faithfulness" in n for n in report["notes"]), report["notes"]  # no question left unscored
    rows = json.loads(full.read_text())["per_question"]
    assert all(0.0 <= row["scores"]["ragas/faithfulness"] <= 1.0 for row in rows), rows
