"""``citewise config show``: the effective settings, secrets masked."""

from __future__ import annotations

import typer
from rich.table import Table

from citewise.commands.common import console, handle_errors, print_json, settings

app = typer.Typer(help="Inspect settings (environment variables CITEWISE_*, nested with __).", no_args_is_help=True)


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:  # type: ignore[type-arg]
    rows: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{name}__")
        else:
            rows.append((name, value))
    return rows


@app.command("show")
@handle_errors
def show(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Print the effective settings with secrets masked, and the encoder backend they select here."""
    from citewise.encoders import resolve_backend
    from citewise.model_cache import CACHE_ENV, cache_dir
    from retrieval.profile import effective_retrieval
    from retrieval.rerank import CrossEncoderReranker, reranker_state

    cfg = settings()
    masked = cfg.masked()
    backend = resolve_backend(cfg.encoder)
    r, _ = effective_retrieval(cfg)  # the default collection's trained reranker, where one is registered
    reranker = reranker_state(r.rerank, CrossEncoderReranker(r.reranker_model, device=cfg.encoder.device))
    models = str(cache_dir(create=False))  # a file there is an error here too, naming the variable
    if as_json:
        effective = {"encoder_backend": backend, "reranker": reranker.json(), "model_cache": models}
        print_json({**masked, "effective": effective})
        return
    table = Table("variable", "value")
    for name, value in _flatten(masked):
        table.add_row(f"CITEWISE_{name.upper()}", repr(value) if value is None else str(value))
    console.print(table)
    console.print(f"encoder backend in use: {backend} (CITEWISE_ENCODER__BACKEND={cfg.encoder.backend})")
    console.print(reranker.line(), highlight=False, soft_wrap=True)
    console.print(f"model cache: {models} ({CACHE_ENV}; `citewise models list`)", highlight=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")
