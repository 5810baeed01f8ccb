"""``citewise tune gate``: train the evidence gate on SQuAD 2.0; saved as ``<data_dir>/models/evidence-gate.json``."""

from __future__ import annotations

from pathlib import Path

import typer

from citewise.commands.common import console, err_console, handle_errors, print_json, settings
from citewise.settings import DEFAULT_DENSE_MODEL

HELP = """Train the evidence gate that decides whether the retrieved passages answer a question.

A small logistic regression, fitted on the answerable questions, scores each retrieved sentence on
question-sentence evidence (content-word coverage, answer-type match, MiniLM similarity, BM25, position,
...) as the probability that it holds the answer; a second one, calibrated on other
articles, turns the best scores into the probability that the passages answer at all. It is fitted on
--train-articles, calibrated and thresholded on --dev-articles (never the same), and saved to
<data_dir>/models/evidence-gate.json, which `citewise ask` and the API then use (answers carry
answer_probability). Without the file, answers fall back to the min_evidence rule.

With --reader, an answerability reader (a cross-encoder fine-tuned from MiniLM's weights on the training
articles' answer sentences against hard negatives, within --reader-minutes) is saved beside it in
<data_dir>/models/answerability-reader and its scores join the question model (10-15 minutes on 2 busy CPU
cores; each answer then reads 2 sentences with it). --reader-base starts it from another BERT-like model (a
pretrained QA or NLI cross-encoder, where one can be had) instead of all-MiniLM-L6-v2.

Exit codes: 0 saved; 2 bad arguments (unreadable dataset, overlapping or missing articles).
"""


@handle_errors
def gate(
    squad: Path = typer.Option(..., "--squad", help="Folder with dev-v2.0-articles-0-7.json, or a SQuAD 2.0 file."),
    train_articles: str = typer.Option("0-3", "--train-articles", help="Articles to fit on, FIRST-LAST."),
    dev_articles: str = typer.Option("4-5", "--dev-articles", help="Articles to calibrate on, FIRST-LAST."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="Passages retrieved per question (as `ask --k`)."),
    max_wrong: float = typer.Option(
        0.12, "--max-wrong-abstain", min=0.0, max=1.0, help="Most answerable dev questions the gate may abstain on."
    ),
    limit: int = typer.Option(0, "--limit", min=0, help="Questions per split, taken evenly (0: all)."),
    reader: bool = typer.Option(False, "--reader", help="Also train the answerability reader (cross-encoder)."),
    reader_minutes: float = typer.Option(
        12.0, "--reader-minutes", min=0.5, max=600.0, help="Time budget for training the reader."
    ),
    reader_base: str = typer.Option(
        DEFAULT_DENSE_MODEL, "--reader-base", help="Model the reader starts from (BERT-like; name or folder)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the artifact's provenance as JSON."),
) -> None:
    from evals.gate_train import parse_range, train_gate
    from generation.answerability import READER_DIR
    from generation.gate import ARTIFACT

    cfg = settings()
    train = parse_range(train_articles, "--train-articles")
    dev = parse_range(dev_articles, "--dev-articles")
    model = train_gate(
        squad, train, dev, k=k, max_wrong=max_wrong, limit=limit, settings=cfg,
        progress=lambda line: err_console.print(line, style="dim"),
        reader_dir=Path(cfg.data_dir) / READER_DIR if reader else None, reader_seconds=reader_minutes * 60,
        reader_base=reader_base,
    )  # fmt: skip
    path = model.save(Path(cfg.data_dir) / ARTIFACT)
    if as_json:
        print_json({"path": str(path), "threshold": model.threshold, "provenance": model.provenance})
        return
    dev_rates = model.provenance["dev"]
    console.print(
        f"saved {path}: threshold {model.threshold:.3f}; on dev articles {dev}: abstains on "
        f"{dev_rates['unanswerable_abstained']:.2f} of unanswerable, {dev_rates['answerable_abstained']:.2f} "
        f"of answerable questions",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("gate", help=HELP)(gate)
