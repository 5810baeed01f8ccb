"""``citewise search QUERY``: hybrid search with per-stage timings, as a table or one JSON object."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from citewise.commands.common import (
    console,
    handle_errors,
    print_json,
    read_scope,
    rerank_notice,
)
from citewise.commands.handoff import find_server

HELP = """Search the index (dense, BM25 or both fused), optionally reranked by a cross-encoder.

Filters: doc_id=ID, source=PATH_PREFIX, file_type=pdf, tag=key=value, modified_after=DATE,
modified_before=DATE; repeat --filter to combine (same key: any of the values).

Exit codes: 0 ok (also with no hits); 2 bad arguments or settings; 1 the index or a model is unavailable.
"""


@handle_errors
def search(
    query: str = typer.Argument(..., help="What to search for."),
    k: int = typer.Option(10, "--k", min=1, max=1000, help="How many hits."),
    mode: str = typer.Option(None, "--mode", help="dense, sparse or hybrid (default: CITEWISE_RETRIEVAL__MODE)."),
    filters: list[str] = typer.Option([], "--filter", help="key=value filter; repeatable."),
    no_rerank: bool = typer.Option(False, "--no-rerank", help="Skip the cross-encoder reranker."),
    tenant: str = typer.Option("default", "--tenant", help="Search only this tenant's documents."),
    groups: list[str] = typer.Option(
        [], "--group", help="Read as a member of this ACL group (repeatable); without it, ACLs are not checked."
    ),
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: hits, timings_ms, rerank_status."),
) -> None:
    from retrieval import Retriever, result_json
    from retrieval.retriever import check_mode

    cfg, flt = read_scope(no_rerank, tenant, groups, filters)
    check_mode(mode or cfg.retrieval.mode)  # before any model loads
    server = find_server(cfg)
    if server is not None:  # the server that owns the data dir answers (same output)
        body = {"query": query, "k": k, "mode": mode, "filters": filters, "tenant": tenant}
        scope = {"groups": groups or None, "collection": collection or cfg.qdrant.collection}
        data = server.call("POST", "/v1/local/search", json={**body, **scope, "rerank": False if no_rerank else None})
    else:
        retriever = Retriever.from_settings(cfg, collection)
        try:
            rerank_notice(retriever)
            data = result_json(retriever.search(query, k=k, filters=flt, mode=mode))
        finally:
            retriever.index.close()
    if as_json:
        print_json(data)
        return
    print_result(data)


def print_result(data: dict[str, Any]) -> None:
    """A search result's ``result_json`` as a table and a line of timings."""
    table = Table(title=f"{len(data['hits'])} hits · rerank: {data['rerank_status']}")
    for column in ("#", "score", "source", "page", "text"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(data["hits"], 1):
        page = "" if hit["page_start"] is None else str(hit["page_start"])
        snippet = " ".join(hit["text"].split())[:160]
        table.add_row(str(rank), f"{hit['score']:.4f}", hit["source"], page, snippet)
    console.print(table)
    console.print(" · ".join(f"{name} {ms:.1f} ms" for name, ms in data["timings_ms"].items()), style="dim")


def register(root: typer.Typer) -> None:
    root.command("search", help=HELP)(search)
