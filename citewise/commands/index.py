"""``citewise index stats|check|drop``: what the index holds, whether it matches the docstore, removing it."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from citewise.commands.common import (
    EXIT_ENV,
    EXIT_OK,
    EXIT_USAGE,
    console,
    err_console,
    handle_errors,
    print_json,
    settings,
    to_jsonable,
)
from citewise.index import IndexStats, open_index

app = typer.Typer(help="Inspect, check, repair or drop the index.", no_args_is_help=True)


@app.command("stats")
@handle_errors
def stats(
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Backend, collection, points, documents and disk size; the tuned retrieval profile, the adapted
    encoder and the trained reranker, if any."""
    from citewise.commands.handoff import find_server
    from citewise.encoders.adapted import describe_training, load_registration
    from ingest.reencode import pending_reencode
    from retrieval.profile import load_profile

    cfg = settings()
    server = find_server(cfg)
    if server is not None:  # the server that owns the data dir reads its index
        name = collection or cfg.qdrant.collection
        result = IndexStats(**server.call("GET", "/v1/local/index/stats", params={"collection": name}))
    else:
        index = open_index(cfg, collection)
        try:
            result = index.stats()
        finally:
            index.close()
    profile = load_profile(cfg.data_dir, result.collection)
    adapted = load_registration(cfg.data_dir, result.collection)
    reranker = load_registration(cfg.data_dir, result.collection, "reranker")
    pending = pending_reencode(cfg.data_dir, result.collection)
    if as_json:
        print_json(
            {
                **to_jsonable(result),
                "profile": None if profile is None else profile.as_json(),
                "adapted_encoder": None if adapted is None else adapted.as_json(),
                "trained_reranker": None if reranker is None else reranker.as_json(),
                "reencode_pending": None
                if pending is None
                else {k: pending[k] for k in ("target_model", "done", "total")},
            }
        )
        return
    table = Table("field", "value")
    for key in ("backend", "collection", "exists", "points", "documents", "disk_bytes"):
        table.add_row(key, str(getattr(result, key)))
    for key, value in (result.spec or {}).items():
        table.add_row("encoder backend" if key == "extra.encoder_backend" else key, str(value))
    if profile is not None:
        table.add_row("retrieval profile", ", ".join(f"{k}={v}" for k, v in profile.settings.items()))
    if adapted is not None:
        table.add_row("adapted encoder", f"{adapted.model_id} (from {adapted.base_model})")
        table.add_row("adapted on", describe_training(adapted))
    if reranker is not None:
        t, decision = reranker.trained_on, reranker.report.get("decision") or {}
        table.add_row(
            "trained reranker",
            f"{reranker.model_id}: top {t.get('rerank_depth')} at blend {t.get('rerank_blend')}, "
            f"held-out nDCG@10 gain {decision.get('gain')} ({t.get('signal')}, {t.get('pairs')} pairs)",
        )
    if pending is not None:
        table.add_row(
            "re-encode", f"unfinished: {pending['done']}/{pending['total']} points; run `citewise tune encoder`"
        )
    console.print(table)


CHECK_HELP = """Compare the index with the docstore: every document's chunks present with the right hashes, no
orphan or leftover points, no document left pending by a stopped run. --repair fixes what it can (deletes
orphans and leftovers, re-encodes chunks from the stored texts, rebuilds pending or incomplete documents).

Exit codes: 0 consistent (or fully repaired); 1 problems remain (listed); 2 bad arguments or settings.
"""


@app.command("check", help=CHECK_HELP)
@handle_errors
def check(
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    repair: bool = typer.Option(False, "--repair", help="Fix what can be fixed, then report what remains."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    from citewise.commands.ingest import stdout_to_stderr
    from citewise.docstore import DocStore
    from ingest.check import IndexChecker

    cfg = settings()
    index = open_index(cfg, collection)
    docstore = DocStore(cfg.data_dir, index.collection)
    try:
        checker = IndexChecker(index, docstore)
        report = checker.check()
        if repair and not report.clean:
            with stdout_to_stderr():
                report = checker.repair(report, _repair_pipeline(cfg, index, docstore))
    finally:
        index.close()
        docstore.close()
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report)
    raise typer.Exit(EXIT_OK if report.clean else EXIT_ENV)


def _repair_pipeline(cfg: Any, index: Any, docstore: Any) -> Any:
    """What a repair re-encodes and re-chunks with: the ingest pipeline's encoders, chunker and versions."""
    from citewise.encoders import Bm25Encoder, check_collection_encoder, load_dense_encoder
    from ingest.pipeline import IngestPipeline

    dense = load_dense_encoder(cfg.encoder, cfg.data_dir, index.collection)
    check_collection_encoder(index.spec(), dense, index.collection)
    return IngestPipeline(cfg, index, dense, Bm25Encoder(), docstore)


def _print_report(report: Any) -> None:
    line = (
        f"{report.collection}: {report.documents} documents ({report.pending} pending), {report.points} points "
        f"(expected {report.expected_points}); lost {report.lost}, duplicated {report.duplicated}"
    )
    console.print(line, highlight=False)
    for p in report.problems:
        state = "repaired" if p.repaired else "PROBLEM"
        console.print(
            f"  {state} {p.kind}: {p.source or p.doc_id} ({p.doc_id}): {p.detail}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    if report.clean:
        console.print("index and docstore agree" + (" after repair" if report.problems else ""), highlight=False)
    else:
        console.print(
            f"{len(report.unrepaired)} problems remain: run `citewise index check --repair`; what it cannot "
            "repair needs the file ingested again or `citewise documents delete <doc_id>`",
            highlight=False,
        )


@app.command("drop")
@handle_errors
def drop(
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: delete every point of the collection."),
) -> None:
    """Delete the collection and everything in it."""
    index = open_index(settings(), collection)
    if not yes:
        err_console.print(f"Refusing to drop {index.collection!r} without --yes.")
        raise typer.Exit(EXIT_USAGE)
    index.drop()
    index.close()
    console.print(f"Dropped collection {index.collection!r} ({index.backend}).")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="index")
