"""``citewise tune reranker``: train a cross-encoder on a collection's own signals; keep it only if it wins."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import typer

from citewise.commands.common import console, handle_errors, print_json, settings
from citewise.commands.tune_encoder import _collection_name, _say, _step_ticker, _ticker
from citewise.errors import InvalidRequest

HELP = """Train a cross-encoder reranker for a collection and use it only if it beats no reranking.

Signals (exactly one), as for `tune encoder`: --beir DIR (qrels of --split), --qa FILE, --feedback FILE,
--synthetic. Each
training query's positive is ranked against --negatives hard negatives from the collection's own hybrid search
(listwise loss). The model starts from the configured dense model's weights (the packaged MiniLM) with a new
score head; CPU-sized: --max-length tokens, the lower --freeze-layers layers frozen, --max-minutes.

It is judged on held-out queries never trained on (a fifth of --split; the QA file's test articles): nDCG@10 of
the collection's hybrid search without reranking vs reranking its top --depth chunks, at each blend of the
reranker's and the fused score. It is registered (<data_dir>/models/<collection>/reranker.json) only when the
best blend gains at least --min-gain with a 95% bootstrap interval above 0 (a --min-gain below 0 skips that
check); otherwise nothing changes and the model is deleted. Search, ask and the API then rerank with it
without flags. --report-split also reports a BEIR split (e.g. test) for information; it never decides.
--revert unregisters the collection's reranker.
"""


@handle_errors
def reranker(
    collection: str = typer.Option(None, "--collection", help="Collection (default: --beir's own eval collection)."),
    beir: Path = typer.Option(None, "--beir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."),
    split: str = typer.Option("train", "--split", help="BEIR qrels split to train on (a fifth is held out)."),
    report_split: str = typer.Option(None, "--report-split", help="Also report this BEIR split (never decides)."),
    qa: Path = typer.Option(None, "--qa", help="SQuAD-format JSON: train on its dev articles, judge on test."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Queries made from the collection's own chunks."),
    feedback: Path = typer.Option(None, "--feedback", help="Exported feedback (.jsonl, `eval export-feedback`)."),
    negatives: int = typer.Option(3, "--negatives", help="Hard negatives per (query, positive)."),
    depth: int = typer.Option(20, "--depth", help="Chunks reranked per query (the fused top N)."),
    epochs: int = typer.Option(1, "--epochs", help="Passes over the training groups."),
    max_pairs: int = typer.Option(None, "--max-pairs", help="Use at most this many (query, positive) pairs."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop training after this long (keeps the model)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Queries per optimizer step."),
    mini_batch: int = typer.Option(0, "--mini-batch", help="Bound memory: N queries per forward pass; 0 = batch."),
    max_length: int = typer.Option(256, "--max-length", help="Word pieces of (query, passage) the model reads."),
    freeze_layers: int = typer.Option(4, "--freeze-layers", help="Lower transformer layers kept frozen."),
    learning_rate: float = typer.Option(1e-4, "--learning-rate", help="AdamW learning rate."),
    min_gain: float = typer.Option(0.005, "--min-gain", help="nDCG@10 gain on held-out queries needed to register."),
    revert: bool = typer.Option(False, "--revert", help="Unregister the collection's reranker."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build the training groups; train nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    from citewise.encoders.adapted import load_registration, remove_registration
    from citewise.index import open_index
    from citewise.telemetry import configure_logging
    from evals.encoder_train import TrainOptions

    _check_numbers(negatives, depth, epochs, max_pairs, max_length)
    options = TrainOptions(
        epochs,
        batch_size,
        max_seq_length=max_length,
        learning_rate=learning_rate,
        max_seconds=None if max_minutes is None else max_minutes * 60,
        mini_batch=mini_batch,
    )
    from evals.encoder_tuning import SignalSource

    source = SignalSource(beir, split, split, qa, synthetic, feedback)  # eval split = split: a fifth held out
    cfg = settings()
    configure_logging(cfg.log_level)  # log lines on stderr: stdout stays clean for --json
    name = _collection_name(collection, beir)
    if name is None:
        raise InvalidRequest("pass --collection NAME (or --beir DIR for its own eval collection)")
    if revert:
        if load_registration(cfg.data_dir, name, "reranker") is None:
            raise InvalidRequest(f"collection {name!r} has no trained reranker to revert")
        remove_registration(cfg.data_dir, name, "reranker")
        _print({"collection": name, "reverted": True}, as_json)
        return
    source.check()
    if report_split is not None and beir is None:
        raise InvalidRequest("--report-split names a BEIR split: pass --beir DIR with it")
    if report_split is not None and not (Path(beir).expanduser() / "qrels" / f"{report_split}.tsv").is_file():
        raise InvalidRequest(f"--report-split {report_split}: {beir}/qrels/{report_split}.tsv does not exist")
    _check_writable(cfg.data_dir, name)
    index = open_index(cfg, name)
    try:
        out = _tune(cfg, index, source, report_split, options, max_pairs, negatives, depth, freeze_layers, min_gain,
                    dry_run)  # fmt: skip
    finally:
        index.close()
    _print(out, as_json)


def _check_numbers(negatives: int, depth: int, epochs: int, max_pairs: int | None, max_length: int) -> None:
    if negatives < 1:
        raise InvalidRequest(f"--negatives {negatives}: at least 1 hard negative per query is needed")
    if not 2 <= depth <= 200:
        raise InvalidRequest(f"--depth {depth}: rerank 2..200 chunks per query")
    if epochs < 1:
        raise InvalidRequest(f"--epochs {epochs}: train at least 1 epoch")
    if max_pairs is not None and max_pairs < 1:
        raise InvalidRequest(f"--max-pairs {max_pairs}: at least 1 (query, positive) pair is needed")
    if not 16 <= max_length <= 512:
        raise InvalidRequest(f"--max-length {max_length}: use 16..512 word pieces (MiniLM reads at most 512)")


def _check_writable(data_dir: Path, collection: str) -> None:
    """Fail before any work when the collection's models folder cannot be written."""
    from citewise.encoders.adapted import models_dir

    folder = models_dir(data_dir, collection)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidRequest(
            f"cannot create the models folder {folder} ({exc.strerror or exc}); set CITEWISE_DATA_DIR to a "
            "writable folder"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidRequest(
            f"the models folder {folder} is not writable; fix its permissions or set CITEWISE_DATA_DIR to a "
            "writable folder"
        )


def _tune(
    cfg: Any,
    index: Any,
    source: Any,
    report_split: str | None,
    options: Any,
    max_pairs: int | None,
    negatives: int,
    depth: int,
    freeze_layers: int,
    min_gain: float,
    dry_run: bool,
) -> dict[str, Any]:
    from citewise.encoders.adapted import models_dir
    from evals.encoder_tuning import build_sets, make_retriever, model_id_now, pairs_for
    from evals.reranker_train import groups_of, train_listwise

    sets = build_sets(cfg, index, source)
    retriever = make_retriever(cfg, index)
    pairs = pairs_for(retriever, sets, max_pairs, _ticker("mining hard negatives"), negatives)
    groups = groups_of(pairs)
    if not groups:
        raise InvalidRequest(
            f"no training signal: no query of {sets.train_note} has a judged document in collection "
            f"{index.collection!r} and a hard negative; ingest that corpus into it (or pass its own --collection)"
        )
    out: dict[str, Any] = {
        **sets.summary(index.collection),
        "groups": len(groups),
        "pairs": sum(1 + len(g.negatives) for g in groups),
    }
    if dry_run:
        return {**out, "dry_run": True, "example": groups[0].__dict__}
    model_id = model_id_now("rr")
    folder = models_dir(cfg.data_dir, index.collection) / model_id
    _say(f"training on {len(groups)} queries x {1 + negatives} passages ({options.epochs} epoch(s)) -> {folder}")
    train = train_listwise(cfg.encoder.model, groups, folder, options, freeze_layers, _step_ticker())
    try:
        return _judge(
            cfg, index, retriever, sets, folder, out, train, options, depth, min_gain, source.beir, report_split
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _judge(
    cfg: Any,
    index: Any,
    retriever: Any,
    sets: Any,
    folder: Path,
    out: dict[str, Any],
    train: Any,
    options: Any,
    depth: int,
    min_gain: float,
    beir: Path | None,
    report_split: str | None,
) -> dict[str, Any]:
    """Held-out nDCG@10 without and with the new reranker; register it only if it wins."""
    from citewise.encoders.adapted import AdaptedModel, save_registration
    from evals.reranker_eval import evaluate_reranker
    from retrieval.rerank import CrossEncoderReranker

    max_length = options.max_seq_length
    scorer = CrossEncoderReranker(str(folder), device="cpu", batch_size=32, max_length=max_length)
    dev = evaluate_reranker(retriever, scorer, sets.eval, sets.eval_to_doc, depth, progress=_ticker("held-out"))
    share = dev.best_blend()
    gain, ci = dev.gain(share)
    wins = gain >= min_gain and (ci[0] > 0 or min_gain < 0)  # below 0: no confidence check (testing)
    decision = {"blend": share, "gain": gain, "ci95": list(ci), "min_gain": min_gain, "registered": wins}
    result = {**out, "train": train.as_json(), "held_out_ndcg": dev.as_json(), "decision": decision}
    if report_split is not None and beir is not None:
        result["report"] = _report(cfg, index, retriever, scorer, beir, report_split, depth, share)
    if not wins:
        shutil.rmtree(folder, ignore_errors=True)
        return {**result, "model": None}
    trained_on = {
        "signal": sets.train_note,
        "pairs": out["pairs"],
        "epochs": options.epochs,
        "rerank_depth": depth,
        "rerank_max_length": max_length,
        "rerank_blend": share,
    }
    report = {"held_out": dev.as_json(), "decision": decision, "train": train.as_json()}
    registration = AdaptedModel(index.collection, folder.name, str(folder), cfg.encoder.model, trained_on, report)
    save_registration(cfg.data_dir, registration, "reranker")
    return {**result, "model": {"id": folder.name, "path": str(folder), "base": cfg.encoder.model}}


def _report(
    cfg: Any, index: Any, retriever: Any, scorer: Any, beir: Path, split: str, depth: int, share: float
) -> dict[str, Any]:
    """No reranking vs reranking on a BEIR split, for information (after the decision; it never decides)."""
    from evals.beir import load_beir
    from evals.encoder_tuning import _corpus_maps
    from evals.reranker_eval import evaluate_reranker

    dataset = load_beir(beir, split)
    to_doc, _ = _corpus_maps(dataset)
    blends = sorted({0.0, share})
    ev = evaluate_reranker(retriever, scorer, dataset, to_doc, depth, blends, _ticker(f"{split} (report only)"))
    gain, ci = ev.gain(share)
    return {"split": split, **ev.as_json(), "gain_at_blend": gain, "ci95": list(ci), "blend": share}


def _print(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(out)
        return
    if out.get("reverted"):
        console.print(f"{out['collection']}: trained reranker unregistered; search reranks with the configured one")
        return
    console.print(f"collection {out['collection']}: {out['signal']}, {out['groups']} queries, {out['pairs']} pairs")
    if out.get("dry_run"):
        console.print("dry run: nothing trained or changed")
        return
    t, dev, d = out["train"], out["held_out_ndcg"], out["decision"]
    console.print(f"training: {t['steps']}/{t['planned_steps']} steps in {t['seconds']} s", highlight=False)
    console.print(
        f"held-out nDCG@10 ({dev['queries']} queries, {out['held_out']['from']}): no rerank {dev['no_rerank']:.4f}, "
        f"rerank top {dev['depth']} at blend {d['blend']} {dev['rerank'][str(d['blend'])]:.4f} "
        f"({d['gain']:+.4f}, 95% CI {d['ci95'][0]:+.4f}..{d['ci95'][1]:+.4f}); {dev['ms_per_query']} ms/query",
        highlight=False,
    )
    if "report" in out:
        r = out["report"]
        console.print(
            f"{r['split']} (report only): no rerank {r['no_rerank']:.4f}, rerank {r['rerank'][str(r['blend'])]:.4f}",
            highlight=False,
        )
    if out["model"] is None:
        console.print(
            f"[yellow]not registered:[/yellow] the reranker did not beat no reranking by {d['min_gain']} with "
            "confidence; search is unchanged and the model was deleted",
            highlight=False,
        )
    else:
        console.print(f"registered: {out['model']['path']} (search reranks with it)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("reranker", help=HELP)(reranker)
