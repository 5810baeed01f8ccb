"""``citewise ingest PATH...``: files and folders into the index, incremental and resumable."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import typer

from citewise.commands.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    console,
    err_console,
    handle_errors,
    print_json,
    settings,
)
from citewise.commands.handoff import find_server
from citewise.commands.progress import ProgressReporter
from citewise.types import checked_names

HELP = """Ingest files and folders (recursive) into the index.

Re-running on an unchanged tree does no work; changed files replace their chunks; --prune removes
documents whose files are gone. A killed run can simply be started again.

When a `citewise serve` owns the embedded data dir, the server runs the ingest (it reads the files itself)
and this command follows it, with the same output and exit codes; Ctrl-C cancels the server's job (re-run to
resume). --wait instead waits until the data dir is free; --no-handoff never asks the server.

Exit codes: 0 every file ingested or unchanged; 3 the run completed but some files failed (listed,
with the reason); 2 bad arguments or settings; 1 the environment failed (index or model unavailable).
"""


def parse_tags(values: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip() or not value.strip():
            err_console.print(f"[red]error:[/red] --tag {raw!r} must look like key=value (e.g. --tag team=legal)")
            raise typer.Exit(EXIT_USAGE)
        tags[key.strip()] = value.strip()
    return tags


@handle_errors
def ingest(
    paths: list[str] = typer.Argument(..., help="Files or folders to ingest (folders are walked recursively)."),
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    tag: list[str] = typer.Option([], "--tag", help="key=value tag on every chunk; repeat for more."),
    prune: bool = typer.Option(False, "--prune", help="Remove documents whose files are gone under PATHS."),
    workers: int = typer.Option(
        None, "--workers", min=0, max=256, help="Parser processes; 0 = parse in this process (default: auto)."
    ),
    include: list[str] = typer.Option([], "--include", help="Only files matching this glob; repeatable."),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip files matching this glob; repeatable."),
    tenant: str = typer.Option("default", "--tenant", help="Tenant the documents belong to."),
    acl: list[str] = typer.Option([], "--acl", help="ACL group allowed to read these documents; repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object on stdout."),
    engine: str = typer.Option("local", "--engine", help="local (processes on this machine) or ray (Ray Data)."),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        help="--engine ray: auto (running cluster) or ray://host:10001 (default: start Ray here).",
    ),
    wait: bool = typer.Option(False, "--wait", help="If another citewise process owns the data dir, wait for it."),
    wait_timeout: float = typer.Option(None, "--wait-timeout", min=0, help="With --wait: give up after S seconds."),
    handoff: bool = typer.Option(
        True, "--handoff/--no-handoff", help="If a `citewise serve` owns the data dir, let it run this ingest."
    ),
) -> None:
    tags = parse_tags(tag)
    checked_names([tenant], "--tenant")
    acl = list(checked_names(acl, "--acl group"))
    if engine not in ("local", "ray"):
        err_console.print(f"[red]error:[/red] --engine {engine!r} must be local or ray", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    missing = [p for p in paths if not Path(p).expanduser().exists()]
    if missing:
        err_console.print(f"[red]error:[/red] path not found: {', '.join(missing)}; check the spelling or mount")
        raise typer.Exit(EXIT_USAGE)
    cfg = settings()
    from citewise.telemetry import configure_logging

    configure_logging(cfg.log_level)
    options: dict[str, Any] = {
        "paths": [str(Path(p).expanduser().resolve()) for p in paths],
        "tags": tags,
        "prune": prune,
        "workers": workers,
        "tenant": tenant,
        "acl": acl,
        "include": include or None,
        "exclude": [*cfg.ingest.exclude, *exclude],
    }
    server = None if wait or not handoff else find_server(cfg)
    if server is not None:
        if engine != "local":
            err_console.print(
                f"[red]error:[/red] {server.describe()} owns the data dir and ingests with its own engine: drop "
                "--engine ray, or wait for the data dir with --wait",
                highlight=False,
            )
            raise typer.Exit(EXIT_USAGE)
        summary, name = _handed_off(server, collection or cfg.qdrant.collection, options, cfg.ingest.progress_every_s)
    elif wait and cfg.qdrant.backend == "embedded":
        from citewise.datadir import hold

        def announce(holder: Any) -> None:
            err_console.print(f"waiting for the data dir ({holder.describe()}) ...", highlight=False)

        hold(cfg.data_dir, wait_s=wait_timeout, on_wait=announce)  # held until this process exits
    if server is None:
        with stdout_to_stderr():  # stdout carries only the summary: logs and library prints go to stderr
            summary, name = _run(cfg, collection, (engine, ray_address), **options)
    if as_json:
        print_json(
            {
                "files": summary.files,
                "chunks": summary.chunks,
                "failures": summary.failures,
                "elapsed_s": summary.elapsed_s,
                "collection": name,
            }
        )
    else:
        print_summary(summary)
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_PARTIAL)


def _handed_off(server: Any, collection: str, options: dict[str, Any], every_s: float) -> tuple[Any, str]:
    """The run, by the server that owns the data dir (``citewise.commands.handoff``)."""
    from citewise.commands import handoff

    reporter = ProgressReporter(sys.stderr.isatty(), every_s)
    try:
        summary = handoff.ingest(server, {**options, "collection": collection}, reporter)
    except handoff.Interrupted as stop:
        reporter.close()
        err_console.print(stop.message, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        reporter.close()
    return summary, collection


def _run(cfg: Any, collection: str | None, engine: tuple[str, str | None], **options: Any) -> tuple[Any, str]:
    """Open the index, docstore, encoders and pipeline (``engine``: name, Ray address); run; close them all."""
    from citewise.docstore import DocStore
    from citewise.encoders import Bm25Encoder, load_dense_encoder
    from citewise.errors import InvalidRequest
    from citewise.index import open_index
    from ingest.engines import make_pipeline

    index = open_index(cfg, collection)
    docstore = DocStore(cfg.data_dir, index.collection)
    try:
        dense = load_dense_encoder(cfg.encoder, cfg.data_dir, index.collection)
        pipeline = make_pipeline(engine[0], cfg, index, dense, Bm25Encoder(), docstore, address=engine[1])
        reporter = ProgressReporter(sys.stderr.isatty(), cfg.ingest.progress_every_s)
        try:
            summary = pipeline.run(options.pop("paths"), progress=reporter, **options)
        except InvalidRequest as exc:
            err_console.print(f"[red]error:[/red] {exc.message}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        finally:
            reporter.close()
            pipeline.close()
    finally:
        index.close()
        docstore.close()
    return summary, index.collection


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python and native code) to stderr for the duration."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no usable fd 1/2 (embedded use): redirect Python-level writes only
        saved = -1
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved >= 0:
            os.dup2(saved, 1)
            os.close(saved)


def print_summary(summary: Any) -> None:
    from rich.table import Table

    table = Table("files", "count", "chunks", "count", title=f"ingest finished in {summary.elapsed_s:.1f} s")
    f, c = summary.files, summary.chunks
    table.add_row("ingested", str(f.ingested), "added", str(c.added))
    table.add_row("changed", str(f.changed), "removed", str(c.removed))
    table.add_row("unchanged", str(f.unchanged), "", "")
    table.add_row("removed", str(f.removed), "", "")
    table.add_row("failed", str(f.failed), "", "")
    console.print(table)
    if summary.failures:  # one unwrapped line per file, so a path can be copied whole
        console.print(f"[bold]{len(summary.failures)} files could not be ingested:[/bold]")
        for item in summary.failures:
            console.print(f"  {item.path}: {item.reason}", soft_wrap=True, highlight=False, markup=False)


def register(root: typer.Typer) -> None:
    root.command("ingest", help=HELP)(ingest)
