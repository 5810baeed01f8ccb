"""``citewise sources add|list|update|sync|remove``: named folders and object stores kept in sync with the index.

The sources live in ``<data_dir>/sources/<collection>.sqlite`` (``ingest.sources``). ``add``, ``list``, ``update``
and a ``remove`` without ``--purge`` only touch that file, so they work beside a running ``citewise serve`` (which
picks up new sources within ``CITEWISE_SOURCES__TICK_S``). ``sync`` and ``remove --purge`` write the index: when a
server owns the data dir they are handed to it, as ``citewise ingest`` is (docs/ingest.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from citewise.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    console,
    err_console,
    handle_errors,
    print_json,
    settings,
)

app = typer.Typer(
    help="Named sources (folders, s3://, gs://, az://) kept in sync: add, list, sync, remove.", no_args_is_help=True
)
COLLECTION = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION).")
JSON = typer.Option(False, "--json", help="Print one JSON object on stdout.")
INCLUDE_HELP = "Glob on the path inside the source ('*.pdf', 'docs/**') an object must match; repeatable."
EXCLUDE_HELP = "Glob on the path inside the source ('**/drafts/**') that leaves an object out; repeatable."


def _store(cfg: Any, collection: str | None) -> Any:
    from ingest.sources.store import SourceStore

    return SourceStore(cfg.data_dir, collection or cfg.qdrant.collection)


def _options(values: list[str]) -> dict[str, str]:
    from citewise.errors import InvalidRequest

    out = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"--option {raw!r} must look like key=value (e.g. --option region_name=eu-west-1)")
        out[key.strip()] = value.strip()
    return out


@app.command("add")
@handle_errors
def add(
    name: str = typer.Argument(..., help="A name for the source (letters, digits, '.', '_', '-')."),
    uri: str = typer.Argument(..., help="A local folder, file://PATH, s3://BUCKET/PREFIX, gs://... or az://..."),
    schedule: str = typer.Option(None, "--schedule", help="Cron expression; `citewise serve` syncs on it."),
    watch: bool = typer.Option(False, "--watch", help="Local folders: `citewise serve` syncs on every change."),
    tag: list[str] = typer.Option([], "--tag", help="key=value tag on every chunk; repeatable."),
    acl: list[str] = typer.Option([], "--acl", help="ACL group allowed to read the documents; repeatable."),
    tenant: str = typer.Option("default", "--tenant", help="Tenant the documents belong to."),
    option: list[str] = typer.Option(
        [], "--option", help="fsspec storage option key=value (endpoint_url, region_name; never secrets)."
    ),
    check: bool = typer.Option(True, "--check/--no-check", help="Check that the bucket exists before adding."),
    include: list[str] = typer.Option([], "--include", help=INCLUDE_HELP),
    exclude: list[str] = typer.Option([], "--exclude", help=EXCLUDE_HELP),
    collection: str = COLLECTION,
    as_json: bool = JSON,
) -> None:
    """Add a source (it is synced by `citewise sources sync NAME`, its schedule or its watch)."""
    from citewise.commands.ingest import parse_tags
    from ingest.sources.listing import check_reachable
    from ingest.sources.spec import make_spec

    cfg = settings()
    spec = make_spec(
        name,
        uri,
        tenant=tenant,
        acl=acl,
        tags=parse_tags(tag),
        schedule=schedule,
        watch=watch,
        options=_options(option),
        include=include,
        exclude=exclude,
    )
    if check:
        check_reachable(spec, cfg)
    store = _store(cfg, collection)
    try:
        store.add(spec)
    finally:
        store.close()
    if as_json:
        print_json(spec.body())
        return
    how = (
        f"on schedule '{spec.schedule}' while `citewise serve` runs (or from cron: citewise sources sync --all)"
        if spec.schedule
        else "on every change while `citewise serve` runs"
        if spec.watch
        else "when asked"
    )
    console.print(
        f"added source {spec.name!r} ({spec.uri}); it syncs {how}. Sync it now: citewise sources sync {spec.name}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
@handle_errors
def list_sources(collection: str = COLLECTION, as_json: bool = JSON) -> None:
    """The sources and how their last sync ended."""
    cfg = settings()
    store = _store(cfg, collection)
    try:
        rows = [(spec, store.status(spec.name)) for spec in store.list()]
    finally:
        store.close()
    if as_json:
        print_json({"sources": [{**spec.body(), "last_sync": status} for spec, status in rows]})
        return
    from rich.table import Table

    table = Table("name", "uri", "mode", "globs", "tenant", "acl", "last sync", title=f"{len(rows)} sources")
    for spec, status in rows:
        mode = f"cron {spec.schedule}" if spec.schedule else "watch" if spec.watch else "manual"
        table.add_row(spec.name, spec.uri, mode, _globs(spec), spec.tenant, ",".join(spec.acl), _last(status))
    console.print(table)


def _globs(spec: Any) -> str:
    parts = [f"include {' '.join(spec.include)}"] if spec.include else []
    parts += [f"exclude {' '.join(spec.exclude)}"] if spec.exclude else []
    return "; ".join(parts) or "all"


@app.command("update")
@handle_errors
def update(
    name: str = typer.Argument(..., help="The source to change."),
    include: list[str] = typer.Option([], "--include", help=INCLUDE_HELP + " Replaces the include globs."),
    exclude: list[str] = typer.Option([], "--exclude", help=EXCLUDE_HELP + " Replaces the exclude globs."),
    clear_include: bool = typer.Option(False, "--clear-include", help="Drop the include globs (every object)."),
    clear_exclude: bool = typer.Option(False, "--clear-exclude", help="Drop the exclude globs."),
    collection: str = COLLECTION,
    as_json: bool = JSON,
) -> None:
    """Change a source's include/exclude globs. The next sync ingests what they now select and prunes (from this
    source only) what they now leave out, as if those files had been deleted."""
    from citewise.errors import InvalidRequest
    from ingest.sources.spec import with_globs

    if (include and clear_include) or (exclude and clear_exclude):
        raise InvalidRequest("give --include (or --exclude) globs, or --clear-include (--clear-exclude), not both")
    new_include = [] if clear_include else include or None
    new_exclude = [] if clear_exclude else exclude or None
    if new_include is None and new_exclude is None:
        raise InvalidRequest(
            "nothing to change: give --include/--exclude globs (they replace the current ones) or --clear-include/"
            "--clear-exclude; see `citewise sources list` for the current ones"
        )
    cfg = settings()
    store = _store(cfg, collection)
    try:
        spec = store.update(with_globs(store.get(name), new_include, new_exclude))
    finally:
        store.close()
    if as_json:
        print_json(spec.body())
        return
    console.print(
        f"source {spec.name!r} now takes {_globs(spec)}; the next sync applies it (citewise sources sync {spec.name})",
        highlight=False,
        soft_wrap=True,
    )


def _last(status: Any) -> str:
    import time

    if status is None:
        return "never"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.finished_at))
    if status.error:
        return f"{when}: error: {status.error}"
    return (
        f"{when}: {status.objects} objects, {status.ingested + status.changed} ingested, {status.removed} removed, "
        f"{status.failed} failed"
    )


@app.command("sync")
@handle_errors
def sync(
    name: str = typer.Argument(None, help="The source to sync (or --all)."),
    all_sources: bool = typer.Option(False, "--all", help="Sync every source of the collection (for cron)."),
    collection: str = COLLECTION,
    handoff: bool = typer.Option(True, "--handoff/--no-handoff", help="Let a `citewise serve` that owns it run it."),
    as_json: bool = JSON,
) -> None:
    """Sync one source, or all: changed objects re-ingested, vanished ones pruned (only this source's).

    Exit codes: 0 done; 3 some files (or, with --all, some sources) failed; 2 bad arguments; 1 the source or
    the index could not be reached."""
    from citewise.commands.handoff import find_server
    from citewise.errors import InvalidRequest

    if (name is None) == (not all_sources):
        raise InvalidRequest("give a source NAME or --all (not both); see `citewise sources list`")
    cfg = settings()
    from citewise.telemetry import configure_logging

    configure_logging(cfg.log_level)
    store = _store(cfg, collection)
    try:
        names = [s.name for s in store.list()] if all_sources else [store.get(name).name]
    finally:
        store.close()
    server = find_server(cfg) if handoff else None
    if server is not None:
        results, summary = _handed_off(server, collection or cfg.qdrant.collection, names, cfg)
    else:
        results, summary = _run_here(cfg, collection, names, single=not all_sources)
    if as_json:
        print_json({"sources": results, "files": summary.files, "chunks": summary.chunks, **_rest(summary)})
    else:
        _print(results, summary)
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_PARTIAL)


def _rest(summary: Any) -> dict[str, Any]:
    return {
        "failures": [{"path": f.path, "reason": f.reason} for f in summary.failures],
        "elapsed_s": summary.elapsed_s,
    }


def _run_here(cfg: Any, collection: str | None, names: list[str], single: bool) -> tuple[list[Any], Any]:
    from citewise.commands.ingest import stdout_to_stderr
    from citewise.commands.progress import ProgressReporter
    from ingest.sources.sync import SourceSync, SyncRun

    with _opened(cfg, collection) as (pipeline, store), stdout_to_stderr():
        syncer = SourceSync(pipeline, store, cfg)
        reporter = ProgressReporter(sys.stderr.isatty(), cfg.ingest.progress_every_s)
        try:
            if single:  # one source: one that cannot be listed is an error (exit 1), not a failed file
                result = syncer.sync(names[0], reporter)
                run = SyncRun((result,))
            else:
                run = syncer.sync_many(names, reporter)
        finally:
            reporter.close()
    return run.json(), run.summary


def _handed_off(server: Any, collection: str, names: list[str], cfg: Any) -> tuple[list[Any], Any]:
    from citewise.commands import handoff
    from citewise.commands.progress import ProgressReporter

    reporter = ProgressReporter(sys.stderr.isatty(), cfg.ingest.progress_every_s)
    details: dict[str, Any] = {}
    try:
        summary = handoff.ingest(
            server, {"collection": collection, "names": names}, reporter, "/v1/local/sources/sync", details
        )
    except handoff.Interrupted as stop:
        err_console.print(stop.message, highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        reporter.close()
    return list(details.get("sources") or []), summary


@contextmanager
def _opened(cfg: Any, collection: str | None) -> Iterator[tuple[Any, Any]]:
    """The index, docstore, encoders and an ingest pipeline on this machine, and the source store; closed after."""
    from citewise.docstore import DocStore
    from citewise.encoders import Bm25Encoder, load_dense_encoder
    from citewise.index import open_index
    from ingest.pipeline import IngestPipeline

    index = open_index(cfg, collection)
    docstore = DocStore(cfg.data_dir, index.collection)
    store = _store(cfg, index.collection)
    try:
        dense = load_dense_encoder(cfg.encoder, cfg.data_dir, index.collection)
        with IngestPipeline(cfg, index, dense, Bm25Encoder(), docstore) as pipeline:
            yield pipeline, store
    finally:
        store.close()
        docstore.close()
        index.close()


def _print(results: list[dict[str, Any]], summary: Any) -> None:
    for r in results:
        f = r["files"]
        console.print(
            f"{r['source']}: {r['objects']} objects listed in {r['list_s']:.2f} s; {f['ingested']} new, "
            f"{f['changed']} changed, {f['unchanged']} unchanged, {f['removed']} removed, {f['failed']} failed "
            f"({r['elapsed_s']:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )
    if summary.failures:
        console.print(f"[bold]{len(summary.failures)} could not be synced:[/bold]")
        for item in summary.failures:
            console.print(f"  {item.path}: {item.reason}", soft_wrap=True, highlight=False, markup=False)


@app.command("remove")
@handle_errors
def remove(
    name: str = typer.Argument(..., help="The source to remove."),
    purge: bool = typer.Option(False, "--purge", help="Also delete its documents (those no other source lists)."),
    collection: str = COLLECTION,
    as_json: bool = JSON,
) -> None:
    """Forget a source; its documents stay in the index unless --purge."""
    from citewise.commands.handoff import find_server

    cfg = settings()
    deleted = 0
    server = find_server(cfg) if purge else None
    if server is not None:
        params = {"purge": "true", "collection": collection or cfg.qdrant.collection}
        deleted = int(server.call("DELETE", f"/v1/local/sources/{name}", params=params)["documents_deleted"])
    elif purge:
        from ingest.sources.sync import purge as purge_source

        with _opened_for_delete(cfg, collection) as (index, docstore, store):
            store.get(name)
            deleted = purge_source(store, name, index, docstore)
    else:
        store = _store(cfg, collection)
        try:
            store.remove(name)
        finally:
            store.close()
    if as_json:
        print_json({"source": name, "documents_deleted": deleted})
        return
    kept = "" if purge else " (its documents stay indexed; --purge deletes them)"
    console.print(f"removed source {name!r}; {deleted} documents deleted{kept}", highlight=False)


@contextmanager
def _opened_for_delete(cfg: Any, collection: str | None) -> Iterator[tuple[Any, Any, Any]]:
    from citewise.docstore import DocStore
    from citewise.index import open_index

    index = open_index(cfg, collection)
    docstore = DocStore(cfg.data_dir, index.collection)
    store = _store(cfg, index.collection)
    try:
        yield index, docstore, store
    finally:
        store.close()
        docstore.close()
        index.close()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="sources")
