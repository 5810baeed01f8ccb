"""``citewise eval retrieval|answers|export-feedback|gate``: offline quality measurement, reports, gates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from citewise.commands.common import EXIT_OK, console, err_console, handle_errors, print_json, settings
from citewise.errors import InvalidRequest
from citewise.settings import Settings
from citewise.types import DEFAULT_TENANT

EXIT_GATE = 4  # the run completed, and a metric fell more than --max-drop below the baseline

EXIT_CODES = """Exit codes: 0 ok (and the gate passed, if --baseline was given); 4 the gate failed (each metric that
dropped is named on stderr and in the JSON "gate" object); 2 bad arguments, settings or input files;
1 the environment failed (index or model unavailable)."""

app = typer.Typer(help="Measure retrieval and answer quality offline; gate on a baseline.", no_args_is_help=True)


def _settings() -> Settings:
    """Settings, with log lines on stderr (stdout stays clean for --json)."""
    from citewise.telemetry import configure_logging

    cfg = settings()
    configure_logging(cfg.log_level)
    return cfg


def _gate(report: dict[str, Any], baseline: Path | None, max_drop: float) -> dict[str, Any] | None:
    """Check ``report`` against ``baseline`` (adds ``report["gate"]``); returns the baseline report for plots."""
    if baseline is None:
        return None
    from evals.gates import check, load_metrics

    result = check(report["metrics"], load_metrics(baseline), max_drop)
    report["gate"] = result.as_json()
    return json.loads(baseline.read_text(encoding="utf-8"))


def _finish(report: dict[str, Any], as_json: bool, html: Path | None, json_out: Path | None, earlier: Any) -> None:
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    if html is not None:
        from evals.report import write_html

        write_html(html, report, {"baseline": earlier} if earlier else None)
        err_console.print(f"report written to {html}", highlight=False)
    if as_json:
        print_json({k: v for k, v in report.items() if k not in ("per_query", "per_question")})
    gate = report.get("gate")
    if gate is None:
        raise typer.Exit(EXIT_OK)
    if gate["passed"]:
        err_console.print(f"gate passed: {len(gate['checked'])} metrics within {gate['max_drop']} of the baseline")
        raise typer.Exit(EXIT_OK)
    from evals.gates import Regression

    for r in gate["regressions"]:
        err_console.print(f"[red]regression:[/red] {Regression(r['metric'], r['baseline'], r['current']).describe()}")
    raise typer.Exit(EXIT_GATE)


@app.command("retrieval", help=f"Retrieval metrics per mode on a BEIR dataset.\n\n{EXIT_CODES}")
@handle_errors
def retrieval(
    beir: Path = typer.Option(..., "--beir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."),
    split: str = typer.Option("test", "--split", help="Which qrels file to evaluate."),
    modes: str = typer.Option("dense,sparse,hybrid,hybrid+rerank", "--modes", help="Comma-separated modes."),
    k: int = typer.Option(10, "--k", help="Cutoff of nDCG, Recall and MRR (Recall and MAP are also at 100)."),
    run_out: str = typer.Option(None, "--run-out", help="Write TREC runs to PREFIX.<mode>.trec."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (without per-query rows) as JSON."),
    report_path: Path = typer.Option(None, "--report", help="Write an HTML report (plots, per-query table)."),
    json_out: Path = typer.Option(None, "--json-out", help="Write the full JSON report (with per-query rows)."),
    baseline: Path = typer.Option(None, "--baseline", help="Gate: JSON with the metrics to hold."),
    max_drop: float = typer.Option(0.02, "--max-drop", help="Gate: largest allowed drop below the baseline."),
    collection: str = typer.Option(None, "--collection", help="Collection (default: beir_<folder name>)."),
) -> None:
    from evals.retrieval_eval import evaluate_beir, parse_modes, report_json, run_files, write_trec

    chosen = parse_modes(modes)
    cfg = _settings()

    def progress(mode: str, done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            err_console.print(f"eval {mode}: {done}/{total} queries", highlight=False)

    result = evaluate_beir(cfg, beir, split, chosen, k, collection, progress)
    if run_out:
        for mode, path in run_files(run_out, chosen).items():
            write_trec(path, next(m.run for m in result.modes if m.mode == mode), f"citewise-{mode}")
    report = report_json(result)
    earlier = _gate(report, baseline, max_drop)
    if not as_json:
        _print_retrieval(report)
    _finish(report, as_json, report_path, json_out, earlier)


def _print_retrieval(report: dict[str, Any]) -> None:
    ds = report["dataset"]
    modes = report["modes"]
    names = list(next(iter(modes.values()))["metrics"])
    table = Table(title=f"{ds['name']} {ds['split']}: {ds['queries']} queries, {ds['documents']} documents")
    for column in ("mode", *names, "p50 ms", "p95 ms", "rerank"):
        table.add_column(column)
    for mode, v in modes.items():
        lat = v["latency_ms"]
        cells = [f"{v['metrics'][n]:.4f}" for n in names]
        table.add_row(mode, *cells, f"{lat['p50']:.1f}", f"{lat['p95']:.1f}", str(v["rerank_status"]))
    console.print(table)


@app.command("answers", help=f"Answer a QA set and score the answers (ours + RAGAS).\n\n{EXIT_CODES}")
@handle_errors
def answers(
    qa: Path = typer.Option(..., "--qa", help="QA set: .jsonl (question, reference, ...) or SQuAD 2.0 .json."),
    judge_llm: str = typer.Option(
        None, "--judge-llm", help="Judge for RAGAS: PROVIDER[:MODEL] (default: CITEWISE_EVALS__JUDGE_LLM; none)."
    ),
    metrics: str = typer.Option(None, "--metrics", help="Comma-separated RAGAS metrics (default: all that can run)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (without per-question rows) as JSON."),
    report_path: Path = typer.Option(None, "--report", help="Write an HTML report (plots, per-question table)."),
    json_out: Path = typer.Option(None, "--json-out", help="Write the full JSON report (with per-question rows)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only this many questions (a fixed sample)."),
    llm: str = typer.Option(None, "--llm", help="Answering LLM (default: CITEWISE_GENERATION__LLM)."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="Passages retrieved per question."),
    collection: str = typer.Option(None, "--collection", help="Collection (SQuAD: qa_<file>; JSONL: the default)."),
    baseline: Path = typer.Option(None, "--baseline", help="Gate: JSON with the metrics to hold."),
    max_drop: float = typer.Option(0.02, "--max-drop", help="Gate: largest allowed drop below the baseline."),
    variants: str = typer.Option(
        None, "--variants", help="A,B: answer with each variant of CITEWISE_EXPERIMENTS_FILE and compare them."
    ),
) -> None:
    from evals.answers_eval import evaluate_answers

    cfg = _settings()

    def progress(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            err_console.print(f"eval answers: {done}/{total} questions", highlight=False)

    if variants is not None:
        _compare(cfg, qa, variants, as_json, json_out, llm=llm, k=k, limit=limit, metrics=metrics, judge=judge_llm)
        return

    result = evaluate_answers(
        cfg, qa, limit=limit, metrics=metrics, judge=judge_llm, llm=llm, k=k, collection=collection, progress=progress
    )
    report = result.as_json()
    earlier = _gate(report, baseline, max_drop)
    if not as_json:
        table = Table(title=f"{result.dataset['name']}: {result.dataset['questions']} questions, llm {result.llm}")
        table.add_column("metric")
        table.add_column("value")
        for name, value in result.metrics.items():
            table.add_row(name, f"{value:.4f}")
        console.print(table)
        for note in result.notes:
            err_console.print(f"note: {note}", highlight=False)
    _finish(report, as_json, report_path, json_out, earlier)


def _compare(cfg: Settings, qa: Path, names: str, as_json: bool, json_out: Path | None, **args: Any) -> None:
    from evals.variants import compare_variants

    def progress(name: str, done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            err_console.print(f"eval answers, variant {name}: {done}/{total} questions", highlight=False)

    result = compare_variants(cfg, qa, names, progress=progress, **args)
    if json_out is not None:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    if as_json:
        print_json({**result, "variants": {n: {**r, "per_question": None} for n, r in result["variants"].items()}})
        return
    chosen = list(result["variants"])
    table = Table("metric", *chosen, title=f"experiment {result['experiment']}: variants on {qa.name}")
    for metric, values in result["metrics"].items():
        table.add_row(metric, *("-" if values[n] is None else f"{values[n]:.4f}" for n in chosen))
    console.print(table)


@app.command(
    "export-feedback",
    help="Write a QA JSONL eval set from the API's feedback: thumbs-up answers and thumbs-down corrections, "
    "deduplicated, e-mails/phone numbers/long digit runs masked (rule: evals/pii.py). "
    f"`citewise eval answers --qa FILE` reads it.\n\n{EXIT_CODES}",
)
@handle_errors
def export_feedback(
    out: Path = typer.Option(..., "--out", help="The .jsonl file to write."),
    tenant: str = typer.Option(
        DEFAULT_TENANT, "--tenant", help="Whose feedback (`eval answers` answers as tenant 'default')."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    from evals.feedback_export import export_feedback as export

    if out.suffix.lower() != ".jsonl":
        raise InvalidRequest(f"--out {out}: name a .jsonl file (QA sets are JSON Lines)")
    summary = export(_settings().data_dir, tenant, out)
    if as_json:
        print_json(summary.as_json())
        return
    console.print(
        f"wrote {summary.written} questions to {out} ({summary.thumbs_up} thumbs-up, {summary.corrections} "
        f"corrections; {summary.duplicates} duplicates merged, {summary.skipped_no_correction} thumbs-down "
        "without a correction left out)",
        highlight=False,
    )


@app.command("gate", help=f"Check a saved JSON report against a baseline.\n\n{EXIT_CODES}")
@handle_errors
def gate(
    report_file: Path = typer.Argument(..., help="A JSON report written by --json or --json-out."),
    baseline: Path = typer.Option(..., "--baseline", help="JSON with the metrics to hold."),
    max_drop: float = typer.Option(0.02, "--max-drop", help="Largest allowed drop below the baseline."),
    as_json: bool = typer.Option(False, "--json", help="Print the gate result as JSON."),
) -> None:
    from evals.gates import check, load_metrics

    result = check(load_metrics(report_file), load_metrics(baseline), max_drop)
    if as_json:
        print_json(result.as_json())
    _finish({"gate": result.as_json()}, False, None, None, None)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="eval")
