"""``citewise eval retrieval`` for real on the fixed SciFact subset: the CI gate, TREC runs re-scored with an
independent tool (ir-measures / trec_eval), collection reuse, the HTML report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from evals.beir import write_subset
from evals.retrieval_eval import MODES
from tests.env_support import isolated_env
from tests.paths import REPO, SCIFACT, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASELINE = REPO / "evals" / "baselines" / "scifact_subset.json"
SUBSET = {"n_queries": 50, "n_distractors": 300}  # must match the baseline's "subset"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("evals")
    subset = write_subset(require(SCIFACT), root / "scifact_subset", **SUBSET)
    with isolated_env(root / "data"):  # offline: the reranker is not here, fail fast, not after retries
        yield {"root": root, "subset": subset}


def _eval(args: list[str]) -> Any:
    return CliRunner().invoke(app, ["eval", "retrieval", *args])


@pytest.fixture(scope="module")
def first_run(env: dict[str, Path]) -> dict[str, Any]:
    prefix = env["root"] / "runs" / "subset"
    html = env["root"] / "report.html"
    result = _eval(
        ["--beir", str(env["subset"]), "--run-out", str(prefix), "--json", "--baseline", str(BASELINE),
         "--report", str(html), "--json-out", str(env["root"] / "full.json")]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"report": json.loads(result.stdout), "prefix": prefix, "html": html, "stderr": result.stderr}


def test_gate_passes_on_the_committed_baseline(first_run: dict[str, Any]) -> None:
    report = first_run["report"]
    baseline = json.loads(BASELINE.read_text())
    assert baseline["subset"] == SUBSET and baseline["dataset"]["fingerprint"] == report["dataset"]["fingerprint"]
    assert report["gate"]["passed"] and set(report["gate"]["checked"]) == set(baseline["metrics"])
    assert "gate passed" in first_run["stderr"]
    assert list(report["modes"]) == list(MODES)
    for mode in MODES:
        entry = report["modes"][mode]
        assert set(entry["metrics"]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"}
        assert 0 < entry["metrics"]["ndcg@10"] <= 1
        assert entry["latency_ms"]["p95"] >= entry["latency_ms"]["p50"] > 0
    assert report["dataset"]["queries"] == 50 and report["ingest"]["failed"] == 0
    assert report["ingest"]["ingested"] == report["dataset"]["documents"]
    assert report["modes"]["hybrid+rerank"]["rerank_status"]  # what happened to reranking is reported
    assert "per_query" not in report


def test_runs_rescored_with_an_independent_tool_agree(first_run: dict[str, Any], env: dict[str, Path]) -> None:
    """Our metrics come from ir-measures (trec_eval); ranx is a separate implementation reading the TREC files."""
    import warnings

    from ranx import Qrels, Run, evaluate

    judged: dict[str, dict[str, int]] = {}
    for line in (env["subset"] / "qrels" / "test.tsv").read_text().splitlines()[1:]:  # BEIR tsv, with header
        qid, doc, rel = line.split("\t")
        judged.setdefault(qid, {})[doc] = int(rel)
    qrels = Qrels(judged)
    for mode in MODES:
        path = Path(f"{first_run['prefix']}.{mode}.trec")
        lines = [line.split() for line in path.read_text().splitlines()]
        assert all(len(parts) == 6 and parts[1] == "Q0" and parts[5] == f"citewise-{mode}" for parts in lines)
        assert {p[0] for p in lines} == set(qrels.keys())
        run = Run.from_file(str(path), kind="trec")
        assert max(len(docs) for docs in run.to_dict().values()) <= 100
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba's type-safety notes
            theirs = evaluate(qrels, run, ["ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"])
        ours = first_run["report"]["modes"][mode]["metrics"]
        for name, value in theirs.items():
            assert ours[name] == pytest.approx(value, abs=1e-5), (mode, name)


def test_raised_baseline_fails_naming_the_metric_and_the_collection_is_reused(
    first_run: dict[str, Any], env: dict[str, Path]
) -> None:
    raised = json.loads(BASELINE.read_text())
    raised["metrics"]["hybrid/ndcg@10"] = first_run["report"]["metrics"]["hybrid/ndcg@10"] + 0.05
    path = env["root"] / "raised.json"
    path.write_text(json.dumps(raised))
    result = _eval(["--beir", str(env["subset"]), "--modes", "dense,hybrid", "--json", "--baseline", str(path)])
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    failed = {r["metric"] for r in report["gate"]["regressions"]}
    # the modes not run are missing, hybrid/ndcg@10 dropped; dense held
    assert "hybrid/ndcg@10" in failed and "sparse/ndcg@10" in failed and "dense/ndcg@10" not in failed
    assert "regression: hybrid/ndcg@10" in " ".join(result.stderr.split())
    assert report["ingest"]["unchanged"] == report["dataset"]["documents"] and report["ingest"]["chunks_added"] == 0
    assert report["metrics"]["hybrid/ndcg@10"] == first_run["report"]["metrics"]["hybrid/ndcg@10"]


def test_gate_command_on_a_saved_report(first_run: dict[str, Any], env: dict[str, Path]) -> None:
    runner = CliRunner()
    saved = env["root"] / "full.json"
    ok = runner.invoke(app, ["eval", "gate", str(saved), "--baseline", str(BASELINE)])
    assert ok.exit_code == 0, ok.output
    high = env["root"] / "high.json"
    high.write_text(json.dumps({"metrics": {"dense/recall@100": 1.01}}))
    bad = runner.invoke(app, ["eval", "gate", str(saved), "--baseline", str(high), "--max-drop", "0"])
    assert bad.exit_code == 4 and "dense/recall@100" in bad.stderr


def test_html_report_has_plots_and_a_per_query_table(first_run: dict[str, Any]) -> None:
    html = first_run["html"].read_text()
    assert html.count('src="data:image/png;base64,') >= 3  # quality, latency, vs baseline
    query = next(iter(json.loads((first_run["html"].parent / "full.json").read_text())["per_query"].values()))
    from html import escape

    assert escape(query["query"]) in html and "Gate (max drop 0.02)" in html


def test_bad_input_exits_2_with_a_message(env: dict[str, Path]) -> None:
    result = _eval(["--beir", str(env["root"] / "missing")])
    assert result.exit_code == 2 and "BEIR folder not found" in result.stderr
    result = _eval(["--beir", str(env["subset"]), "--modes", "dense,colbert"])
    assert result.exit_code == 2 and "unknown mode" in result.stderr
