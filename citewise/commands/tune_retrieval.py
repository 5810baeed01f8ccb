"""``citewise tune retrieval``: choose fusion, weights and prefetch depth for a collection from judged queries."""

from __future__ import annotations

from pathlib import Path

import typer

from citewise.commands.common import console, handle_errors, print_json, settings
from citewise.errors import InvalidRequest


@handle_errors
def retrieval(
    beir: Path = typer.Option(None, "--beir", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."),
    split: str = typer.Option("train", "--split", help="BEIR qrels split to tune on (train, dev, ...)."),
    qa: Path = typer.Option(None, "--qa", help="SQuAD-format JSON (question -> its paragraph) instead of --beir."),
    feedback: Path = typer.Option(
        None, "--feedback", help="Exported feedback (.jsonl, `eval export-feedback`) on --collection's own documents."
    ),
    collection: str = typer.Option(
        None,
        "--collection",
        help="Collection (default: the set's eval collection; with --feedback, the settings').",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; store no profile."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Grid over fusion rule, weights and prefetch depth on part of the queries; report the gain over the
    default on the held-out part (95% bootstrap interval); store the choice in <data_dir>/profiles/. With
    --feedback, the judged queries are the API's rated answers (each question -> the documents holding the quotes
    its answer cited) on the collection as it is: nothing is ingested."""
    from citewise.encoders import Bm25Encoder, encoder_languages, load_dense_encoder
    from citewise.index import open_index
    from citewise.types import DEFAULT_TENANT
    from evals.beir import load_beir
    from evals.corpus import collection_for, ingest_corpus
    from evals.feedback_signal import feedback_signal
    from evals.qa_retrieval import load_qa_retrieval
    from evals.tuning import collect_lists, default_candidate, grid, tune
    from retrieval import Retriever, access_filter
    from retrieval.profile import RetrievalProfile, profile_path, save_profile

    if sum(x is not None for x in (beir, qa, feedback)) != 1:
        raise InvalidRequest("pass exactly one of --beir DIR, --qa FILE or --feedback FILE")
    from citewise.telemetry import configure_logging

    cfg = settings()
    configure_logging(cfg.log_level)  # log lines on stderr: stdout stays clean for --json
    if feedback is not None:
        index = open_index(cfg, collection or cfg.qdrant.collection)
        if index.spec() is None:
            index.close()
            raise InvalidRequest(
                f"collection {index.collection!r} does not exist: pass the --collection the feedback is on"
            )
    else:
        dataset = load_beir(beir, split) if beir is not None else load_qa_retrieval(qa, "all")
        index = open_index(cfg, collection or collection_for(dataset.name))
    try:
        dense, sparse = load_dense_encoder(cfg.encoder, cfg.data_dir, index.collection), Bm25Encoder()
        if feedback is not None:
            signal = feedback_signal(index, feedback)
            dataset, to_doc = signal.dataset, _same
            used = {"feedback": {"questions": len(dataset.queries), "left_out": signal.skipped}}
        else:
            to_doc, used = ingest_corpus(cfg, dataset.name, dataset.corpus, index, dense, sparse).doc_id, {}
        retriever = Retriever(cfg.retrieval, index, dense, sparse, languages=encoder_languages(cfg.encoder))
        lists = collect_lists(retriever, dataset, to_doc, access_filter(DEFAULT_TENANT))
    finally:
        index.close()
    result = tune(lists, grid(), default_candidate())
    report = result.as_json()
    tuned_on = {"dataset": dataset.name, "path": str(dataset.path), "split": dataset.split}
    profile = RetrievalProfile(index.collection, result.chosen.settings(), tuned_on, report)
    stored = None if dry_run else str(save_profile(cfg.data_dir, profile))
    out = {"collection": index.collection, **used, **report, "settings": profile.settings, "stored": stored}
    if as_json:
        print_json(out)
        return
    lo, hi = result.ci
    console.print(f"tuned on {dataset.name} ({result.tuning_queries} queries), held out {result.held_out_queries}")
    console.print(f"best: {result.best.label}; default: {result.default.label}")
    console.print(
        f"held-out nDCG@10: default {result.held_out['default']:.4f}, best {result.held_out['best']:.4f}, "
        f"gain {result.gain:+.4f} (95% CI {lo:+.4f} .. {hi:+.4f})"
    )
    console.print(
        f"chosen: {result.chosen.label}"
        + (" (the default: the best lost on held-out)" if report["kept_default"] else "")
    )
    where = profile_path(cfg.data_dir, index.collection)
    console.print("dry run: nothing stored" if dry_run else f"stored: {where}")


def _same(source: str) -> str | None:
    return source  # feedback's judged documents are the collection's own sources


def register(app: typer.Typer) -> None:
    app.command("retrieval")(retrieval)
