"""``citewise index stats|drop``: what the index holds, and removing it."""

from __future__ import annotations

import typer
from rich.table import Table

from citewise.commands.common import (
    EXIT_USAGE,
    console,
    err_console,
    handle_errors,
    print_json,
    settings,
    to_jsonable,
)
from citewise.index import open_index

app = typer.Typer(help="Inspect or drop the index.", no_args_is_help=True)


@app.command("stats")
@handle_errors
def stats(
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Backend, collection, points, documents and disk size; the tuned retrieval profile, if any."""
    from retrieval.profile import load_profile

    cfg = settings()
    index = open_index(cfg, collection)
    try:
        result = index.stats()
    finally:
        index.close()
    profile = load_profile(cfg.data_dir, index.collection)
    if as_json:
        print_json({**to_jsonable(result), "profile": None if profile is None else profile.as_json()})
        return
    table = Table("field", "value")
    for key in ("backend", "collection", "exists", "points", "documents", "disk_bytes"):
        table.add_row(key, str(getattr(result, key)))
    for key, value in (result.spec or {}).items():
        table.add_row("encoder backend" if key == "extra.encoder_backend" else key, str(value))
    if profile is not None:
        table.add_row("retrieval profile", ", ".join(f"{k}={v}" for k, v in profile.settings.items()))
    console.print(table)


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
