"""``citewise experiments report NAME``: compare the variants of an A/B experiment on ``POST /v1/ask``."""

from __future__ import annotations

import typer
from rich.table import Table

from citewise.commands.common import console, handle_errors, print_json, settings

app = typer.Typer(help="A/B experiments on the API's answers (CITEWISE_EXPERIMENTS_FILE).", no_args_is_help=True)


def _rate(cell: dict) -> str:  # type: ignore[type-arg]
    if cell["rate"] is None:
        return "-"
    low, high = cell["ci95"]
    return f"{cell['rate']:.3f} [{low:.2f}, {high:.2f}] n={cell['n']}"


@app.command("report")
@handle_errors
def report(
    name: str = typer.Argument(..., help='The experiment\'s name (its "name" in the experiments file).'),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Per variant: answers, thumbs-up, abstention and unsupported-sentence rates (95% CI), latency, tokens, cost;
    then a plain verdict against the control (the first variant)."""
    from api.experiment_report import experiment_report
    from api.experiments import Experiment

    cfg = settings()
    running = Experiment.load(cfg.experiments_file)
    order = tuple(v.name for v in running.variants) if running is not None and running.name == name else ()
    result = experiment_report(cfg.data_dir, name, order)
    if as_json:
        print_json(result)
        return
    table = Table(
        "variant",
        "answers",
        "thumbs-up",
        "abstention",
        "unsupported sent.",
        "p50 ms",
        "p95 ms",
        "tokens",
        "cost USD",
        title=f"experiment {name} (control: {result['control']})",
    )
    for variant, v in result["variants"].items():
        table.add_row(
            variant,
            str(v["answers"]),
            _rate(v["thumbs_up"]),
            _rate(v["abstention"]),
            _rate(v["unsupported_sentences"]),
            str(v["latency_ms"]["p50"]),
            str(v["latency_ms"]["p95"]),
            str(v["tokens_mean"]),
            f"{v['cost_usd']['total']:.4f}",
        )
    console.print(table)
    for line in result["verdict"]:
        console.print(line, highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="experiments")
