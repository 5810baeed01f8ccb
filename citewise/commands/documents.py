"""``citewise documents list|show|delete``: what was ingested, one document's record, removing one."""

from __future__ import annotations

import typer

from citewise.commands.common import EXIT_USAGE, console, err_console, handle_errors, print_json, settings

app = typer.Typer(help="List, show or delete ingested documents.", no_args_is_help=True)

COLLECTION = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION).")


def _docstore(collection: str | None):  # type: ignore[no-untyped-def]
    from citewise.docstore import DocStore

    cfg = settings()
    return DocStore(cfg.data_dir, collection or cfg.qdrant.collection)


@app.command("list")
@handle_errors
def list_documents(
    collection: str = COLLECTION,
    tenant: str = typer.Option(None, "--tenant", help="Only this tenant's documents."),
    source_prefix: str = typer.Option(None, "--source-prefix", help="Only sources starting with this."),
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Documents ordered by source."""
    store = _docstore(collection)
    try:
        records = store.list(tenant=tenant, offset=offset, limit=limit, source_prefix=source_prefix)
        total = store.count(tenant=tenant, source_prefix=source_prefix)
    finally:
        store.close()
    if as_json:
        print_json({"total": total, "offset": offset, "documents": records})
        return
    from rich.table import Table

    table = Table("doc_id", "title", "type", "chunks", "source", title=f"{total} documents")
    for r in records:
        table.add_row(
            r.doc_id, r.title[:50], r.file_type, str(r.chunks) + ("" if r.complete else " (pending)"), r.source
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    doc_id: str = typer.Argument(..., help="Document id (see `citewise documents list`)."),
    collection: str = COLLECTION,
    text: bool = typer.Option(False, "--text", help="Also print the extracted text."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One document's record (exit 1 if there is no such document)."""
    store = _docstore(collection)
    try:
        record = store.require(doc_id)
        body = store.get_text(doc_id) if text else None
    finally:
        store.close()
    if as_json:
        print_json({"document": record, **({"text": body} if text else {})})
        return
    for key, value in record.__dict__.items():
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)
    if body is not None:
        console.print(body, highlight=False, markup=False)


@app.command("tag")
@handle_errors
def tag(
    doc_id: str = typer.Argument(..., help="Document id (see `citewise documents list`)."),
    tags: list[str] = typer.Option([], "--tag", help="key=value; repeat for more. Replaces all the document's tags."),
    clear: bool = typer.Option(False, "--clear", help="Remove every tag (instead of --tag)."),
    collection: str = COLLECTION,
) -> None:
    """Replace a document's tags on all its chunks (`search --filter tag=k=v` sees them at once; exit 1 if unknown)."""
    from citewise.commands.handoff import find_server
    from citewise.commands.ingest import parse_tags
    from citewise.index import open_index
    from ingest.steps import retag_document

    if bool(tags) == clear:
        err_console.print("[red]error:[/red] give the new tags with --tag key=value (repeat it), or --clear")
        raise typer.Exit(EXIT_USAGE)
    new = parse_tags(tags)
    cfg = settings()
    server = find_server(cfg)
    if server is not None:  # the server that owns the data dir writes it (one writer)
        params = {"collection": collection or cfg.qdrant.collection}
        chunks = server.call("PATCH", f"/v1/local/documents/{doc_id}", params=params, json={"tags": new})["chunks"]
    else:
        index = open_index(cfg, collection)
        store = _docstore(index.collection)
        try:
            chunks = retag_document(index, store, doc_id, new)
        finally:
            index.close()
            store.close()
    shown = ", ".join(f"{k}={v}" for k, v in sorted(new.items())) or "no tags"
    console.print(f"Document {doc_id}: {shown} ({chunks} chunks).", highlight=False)


@app.command("delete")
@handle_errors
def delete(doc_id: str = typer.Argument(..., help="Document id."), collection: str = COLLECTION) -> None:
    """Remove a document's chunks from the index and its stored text (exit 1 if unknown)."""
    from citewise.commands.handoff import find_server
    from citewise.index import open_index
    from ingest.steps import delete_document

    cfg = settings()
    server = find_server(cfg)
    if server is not None:  # the server that owns the data dir deletes it (one writer)
        params = {"collection": collection or cfg.qdrant.collection}
        removed = server.call("DELETE", f"/v1/local/documents/{doc_id}", params=params)["deleted_chunks"]
        console.print(f"Deleted document {doc_id} ({removed} chunks).")
        return
    index = open_index(cfg, collection)
    store = _docstore(index.collection)
    try:
        removed = delete_document(index, store, doc_id)
    finally:
        index.close()
        store.close()
    console.print(f"Deleted document {doc_id} ({removed} chunks).")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="documents")
