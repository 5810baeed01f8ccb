"""``citewise models list|build|clear``: the machine's model cache (ONNX exports built once, shared by data dirs)."""

from __future__ import annotations

import shutil
import time

import typer

from citewise.commands.common import console, err_console, handle_errors, print_json, settings
from citewise.errors import ConfigError

app = typer.Typer(
    help="The machine's model cache (CITEWISE_CACHE_DIR): ONNX exports built once and shared by every data dir.",
    no_args_is_help=True,
)

BACKEND_CHOICES = ("configured", "onnx", "onnx-int8", "all")


@app.command("build")
@handle_errors
def build(
    backend: str = typer.Option(
        "configured",
        "--backend",
        help="configured (CITEWISE_ENCODER__BACKEND, auto = onnx-int8 on CPU), onnx, onnx-int8 or all.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Build the configured dense model's ONNX exports now (what the first command would otherwise do)."""
    from citewise.encoders import OnnxEncoder, resolve_backend

    if backend not in BACKEND_CHOICES:
        raise ConfigError(f"--backend {backend!r} is not one of {', '.join(BACKEND_CHOICES)}.")
    cfg = settings()
    wanted = {"all": ["onnx", "onnx-int8"], "configured": [resolve_backend(cfg.encoder)]}.get(backend, [backend])
    built = []
    for name in wanted:
        if name == "torch":
            err_console.print("the configured backend is torch: it needs no export (nothing to build)")
            continue
        start = time.perf_counter()
        encoder = OnnxEncoder.from_settings(cfg.encoder, cfg.data_dir, name)
        built.append({"model": encoder.model_id, "backend": name, "path": str(encoder.model_path)})
        if not as_json:
            console.print(
                f"{name}: {encoder.model_id} ready in {time.perf_counter() - start:.1f} s: {encoder.model_path}",
                highlight=False,
                soft_wrap=True,
            )
    if as_json:
        print_json({"built": built})


@app.command("list")
@handle_errors
def list_models(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """The artifacts in the cache: model, backend, size and the library versions they were built with."""
    from citewise.model_cache import cache_dir, list_artifacts

    root = cache_dir(create=False)
    artifacts = list_artifacts(root)
    if as_json:
        print_json({"cache_dir": str(root), "artifacts": artifacts})
        return
    from rich.table import Table

    table = Table("model", "backend", "MB", "versions", "folder", title=f"model cache {root}")
    for a in artifacts:
        versions = " ".join(f"{k} {v}" for k, v in a.versions.items())
        table.add_row(a.model, a.backend, f"{a.size_bytes / 1e6:.1f}", versions, a.folder.name)
    console.print(table)


@app.command("clear")
@handle_errors
def clear(yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Delete every artifact in the cache; the next command that needs one builds it again."""
    from citewise.model_cache import CACHE_FOLDERS, cache_dir

    root = cache_dir(create=False)
    folders = [root / name for name in CACHE_FOLDERS if (root / name).is_dir()]
    if not folders:
        console.print(f"the model cache {root} holds no models", highlight=False)
        return
    if not yes and not typer.confirm(f"Delete {', '.join(map(str, folders))}?"):
        raise typer.Exit(1)
    for folder in folders:
        shutil.rmtree(folder)
    console.print(f"cleared {', '.join(map(str, folders))}", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="models")
