"""``citewise tune encoder``: adapt the dense encoder to a collection, re-encode it, and measure the change."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from citewise.commands.common import console, err_console, handle_errors, print_json, settings
from citewise.errors import InvalidRequest

HELP = """Fine-tune the dense encoder on a collection's own signals and switch the collection to it.

Signals (exactly one): --beir DIR (qrels of --split), --qa FILE (SQuAD-format questions), --feedback FILE (the
API's rated answers, from `citewise eval export-feedback`: each question -> the chunks holding the quotes its
answer cited), --synthetic (a query made from each document's first chunk: its title line or lead sentence).
Hard negatives come from the collection's hybrid search. Before/after nDCG@10 (dense and hybrid) is measured on
held-out queries: --beir's --eval-split, the QA file's test articles, or a fifth of the queries or of the feedback
(never the ones trained on); --synthetic with --beir evaluates on the BEIR --eval-split.

The model is saved under <data_dir>/models/<collection>/<id>/, registered with the collection and the
collection's dense vectors are re-encoded (resumable: run the command again after an interruption). Search,
ask, ingest and the API then use the adapted model without flags; `citewise index stats` shows it.
--revert goes back to the configured model.
"""


@handle_errors
def encoder(
    collection: str = typer.Option(None, "--collection", help="Collection (default: --beir's own eval collection)."),
    beir: Path = typer.Option(None, "--beir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."),
    split: str = typer.Option("train", "--split", help="BEIR qrels split to train on."),
    eval_split: str = typer.Option("test", "--eval-split", help="BEIR qrels split to report on (never trained on)."),
    qa: Path = typer.Option(None, "--qa", help="SQuAD-format JSON: train on its dev articles, report on test."),
    articles: str = typer.Option(None, "--articles", help="With --qa: train on these articles (FIRST-LAST, e.g. 0-5)."),
    eval_articles: str = typer.Option(None, "--eval-articles", help="With --qa: report on these (e.g. 6-7)."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Queries made from the collection's own chunks."),
    feedback: Path = typer.Option(None, "--feedback", help="Exported feedback (.jsonl, `eval export-feedback`)."),
    epochs: int = typer.Option(1, "--epochs", help="Passes over the training pairs."),
    max_pairs: int = typer.Option(None, "--max-pairs", help="Use at most this many training pairs."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop training after this long (keeps the model)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Pairs per step (in-batch negatives; memory)."),
    mini_batch: int = typer.Option(
        0, "--mini-batch", help="Bound training memory: encode N texts at a time (GradCache); 0 = off."
    ),
    revert: bool = typer.Option(False, "--revert", help="Go back to the configured model (re-encodes)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build the pairs and measure 'before'; train nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    from citewise.encoders.adapted import load_registration
    from citewise.index import open_index
    from citewise.telemetry import configure_logging
    from evals.encoder_train import TrainOptions
    from ingest.reencode import pending_reencode

    if epochs < 1:
        raise InvalidRequest(f"--epochs {epochs}: train at least 1 epoch")
    if max_pairs is not None and max_pairs < 2:
        raise InvalidRequest(f"--max-pairs {max_pairs}: at least 2 pairs are needed (in-batch negatives)")
    max_seconds = None if max_minutes is None else max_minutes * 60
    options = TrainOptions(epochs, batch_size, max_seconds=max_seconds, mini_batch=mini_batch)
    from evals.encoder_tuning import SignalSource
    from evals.gate_train import parse_range

    if (articles is not None or eval_articles is not None) and qa is None:
        raise InvalidRequest("--articles and --eval-articles name articles of a --qa file: pass --qa FILE with them")
    chosen = tuple(parse_range(articles, "--articles")) if articles is not None else ()
    held = tuple(parse_range(eval_articles, "--eval-articles")) if eval_articles is not None else ()
    source = SignalSource(beir, split, eval_split, qa, synthetic, feedback, chosen, held)
    cfg = settings()
    configure_logging(cfg.log_level)  # log lines on stderr: stdout stays clean for --json
    name = _collection_name(collection, beir)
    if name is None:
        raise InvalidRequest("pass --collection NAME (or --beir DIR for its own eval collection)")
    pending = pending_reencode(cfg.data_dir, name)
    if not pending and not revert:
        source.check()
    index = open_index(cfg, name)
    try:
        if pending:
            out = _resume(cfg, index, pending)
        elif revert:
            if load_registration(cfg.data_dir, name) is None:
                raise InvalidRequest(f"collection {name!r} has no adapted encoder to revert")
            out = _revert(cfg, index)
        else:
            out = _tune(cfg, index, source, options, max_pairs, dry_run)
    finally:
        index.close()
    _print(out, as_json)


def _collection_name(collection: str | None, beir: Path | None) -> str | None:
    if collection:
        return collection
    if beir is None:
        return None
    from evals.corpus import collection_for

    root = Path(beir).expanduser()
    if not root.is_dir():
        raise InvalidRequest(
            f"BEIR folder not found: {beir}; pass a folder holding corpus.jsonl, queries.jsonl, qrels/"
        )
    return collection_for(root.resolve().name)


def _tune(cfg: Any, index: Any, source: Any, options: Any, max_pairs: int | None, dry_run: bool) -> dict[str, Any]:
    from citewise.encoders import encoder_languages, load_dense_encoder
    from citewise.encoders.adapted import AdaptedModel, models_dir
    from evals.encoder_train import train_mnrl
    from evals.encoder_tuning import (
        build_sets,
        evaluate,
        make_retriever,
        model_id_now,
        pairs_for,
    )
    from ingest.reencode import run_reencode, start_reencode

    sets = build_sets(cfg, index, source)
    retriever = make_retriever(cfg, index)
    _say(f"held-out: {len(sets.eval.queries)} queries ({sets.eval_note}); measuring the current encoder")
    before = evaluate(retriever, sets.eval, sets.eval_to_doc, _ticker("before"))
    pairs = pairs_for(retriever, sets, max_pairs, _ticker("mining hard negatives"))
    if not pairs:
        raise InvalidRequest(
            f"no training pairs: none of the judged documents of {sets.train_note} are in collection "
            f"{index.collection!r}; ingest that corpus into it (or pass its own --collection)"
        )
    out: dict[str, Any] = {
        **sets.summary(index.collection),
        "pairs": len(pairs),
        "before": before,
    }
    if dry_run:
        return {**out, "dry_run": True, "example": pairs[0].__dict__}
    model_id = model_id_now()
    folder = models_dir(cfg.data_dir, index.collection) / model_id
    _say(f"training on {len(pairs)} pairs ({options.epochs} epoch(s), batch {options.batch_size}) -> {folder}")
    train = train_mnrl(cfg.encoder.model, pairs, folder, options, _step_ticker())
    adapted_settings = cfg.encoder.model_copy(
        update={"model": str(folder), "languages": encoder_languages(cfg.encoder)}
    )
    new = load_dense_encoder(adapted_settings, cfg.data_dir)  # ONNX/int8 export here, with the default backend
    trained_on = {"signal": sets.train_note, "pairs": len(pairs), "epochs": options.epochs}
    report = {"before": before, "train": train.as_json(), "held_out": out["held_out"]}
    registration = AdaptedModel(index.collection, model_id, str(folder), cfg.encoder.model, trained_on, report)
    context = {"before": before, "eval": sets.eval_spec, "train": train.as_json()}
    start_reencode(index, cfg.data_dir, new, registration, context)
    summary = run_reencode(index, cfg.data_dir, new, _ticker("re-encoding"))
    after = evaluate(make_retriever(cfg, index, new), sets.eval, sets.eval_to_doc, _ticker("after"))
    _record_after(cfg, index.collection, after)
    return {
        **out,
        "after": after,
        "gain": {m: round(after[m] - before[m], 4) for m in before},
        "train": train.as_json(),
        "model": {"id": model_id, "path": str(folder), "base": cfg.encoder.model, "backend": new.backend},
        "reencoded": {"points": summary.points, "seconds": round(summary.seconds, 1)},
    }


def _resume(cfg: Any, index: Any, pending: dict[str, Any]) -> dict[str, Any]:
    from evals.encoder_tuning import evaluate, load_target_encoder, make_retriever, sets_from_spec
    from ingest.reencode import run_reencode

    _say(f"continuing the unfinished re-encode of {index.collection!r} ({pending['done']}/{pending['total']} done)")
    new = load_target_encoder(cfg, pending)
    summary = run_reencode(index, cfg.data_dir, new, _ticker("re-encoding"))
    context = pending.get("context") or {}
    out: dict[str, Any] = {
        "collection": index.collection,
        "resumed": True,
        "reencoded": {"points": summary.points, "seconds": round(summary.seconds, 1)},
        "model": {"path": pending["target_model"], "backend": new.backend},
    }
    spec = context.get("eval")
    if spec and context.get("before"):
        sets = sets_from_spec(cfg, index, spec)
        after = evaluate(make_retriever(cfg, index, new), sets.eval, sets.eval_to_doc, _ticker("after"))
        before = context["before"]
        if pending.get("registration"):
            _record_after(cfg, index.collection, after)
        out.update(before=before, after=after, gain={m: round(after[m] - before[m], 4) for m in before})
    return out


def _revert(cfg: Any, index: Any) -> dict[str, Any]:
    from citewise.encoders import load_dense_encoder
    from ingest.reencode import run_reencode, start_reencode

    base = load_dense_encoder(cfg.encoder, cfg.data_dir)  # no collection: the configured model
    start_reencode(index, cfg.data_dir, base, None)
    summary = run_reencode(index, cfg.data_dir, base, _ticker("re-encoding"))
    return {
        "collection": index.collection,
        "reverted_to": str(base.model_id),
        "reencoded": {"points": summary.points, "seconds": round(summary.seconds, 1)},
    }


def _record_after(cfg: Any, collection: str, after: dict[str, float]) -> None:
    from dataclasses import replace

    from citewise.encoders.adapted import load_registration, save_registration

    registered = load_registration(cfg.data_dir, collection)
    if registered is not None:
        save_registration(cfg.data_dir, replace(registered, report={**registered.report, "after": after}))


def _say(text: str) -> None:
    err_console.print(text, highlight=False, soft_wrap=True)


def _ticker(label: str) -> Any:
    """A progress callback printing ``label done/total`` about every 10% (and at the end)."""
    last = [-1.0]

    def tick(done: int, total: int) -> None:
        share = done / max(1, total)
        if done == total or share - last[0] >= 0.1:
            last[0] = share
            _say(f"{label}: {done}/{total}")

    return tick


def _step_ticker() -> Any:
    started = time.perf_counter()
    last = [-1.0]

    def tick(step: int, total: int, loss: float) -> None:
        share = step / max(1, total)
        if step == total or share - last[0] >= 0.05:
            last[0] = share
            _say(f"training: step {step}/{total}, loss {loss:.4f}, {time.perf_counter() - started:.0f} s")

    return tick


def _print(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(out)
        return
    if "reverted_to" in out:
        console.print(f"{out['collection']}: back to {out['reverted_to']} ({out['reencoded']['points']} points)")
        return
    console.print(f"collection {out['collection']}" + (" (resumed re-encode)" if out.get("resumed") else ""))
    if "signal" in out:
        console.print(f"trained on: {out['signal']}, {out['pairs']} pairs", highlight=False)
    if "before" in out:
        for mode in out["before"]:
            after = out.get("after", {}).get(mode)
            line = f"held-out nDCG@10 {mode}: before {out['before'][mode]:.4f}"
            if after is not None:
                line += f", after {after:.4f} ({out['gain'][mode]:+.4f})"
            console.print(line, highlight=False)
    if out.get("dry_run"):
        console.print("dry run: nothing trained or changed")
        return
    if "train" in out:
        t = out["train"]
        console.print(f"training: {t['steps']}/{t['planned_steps']} steps in {t['seconds']} s", highlight=False)
        if t["stopped"]:
            console.print(f"stopped early: {t['stopped']}", highlight=False)
    console.print(f"model: {out['model']['path']} ({out['model']['backend']})", highlight=False)
    console.print(f"re-encoded {out['reencoded']['points']} points in {out['reencoded']['seconds']} s")
    gain = out.get("gain", {}).get("hybrid")
    if gain is not None and gain < 0:
        console.print(
            f"[yellow]the adapted encoder lost on held-out hybrid ({gain:+.4f}):[/yellow] "
            f"`citewise tune encoder --collection {out['collection']} --revert` goes back",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.command("encoder", help=HELP)(encoder)
