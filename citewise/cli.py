"""The ``citewise`` command: mounts each command group from ``citewise.commands``.

The command modules are imported statically (so import-linter and mypy see every edge) and are light: each
imports its stages (torch, ONNX Runtime, Qdrant, unstructured, llama-index ...) inside the command function,
so `citewise --help`, `config show` or `documents list` start in a fraction of a second.
``tests/unit/test_cli_startup.py`` keeps it that way.
"""

from __future__ import annotations

import typer

from citewise import __version__
from citewise.commands import (
    ask,
    chat,
    config,
    documents,
    evaluate,
    experiments,
    index,
    ingest,
    mcp,
    models,
    search,
    serve,
    sources,
    tune,
    usage,
)

COMMAND_MODULES = (
    config,
    index,
    ingest,
    documents,
    sources,
    search,
    ask,
    chat,
    evaluate,
    serve,
    mcp,
    tune,
    models,
    usage,
    experiments,
)

app = typer.Typer(
    name="citewise",
    help="Question answering and semantic search over your documents, with checked citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"citewise {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Settings come from CITEWISE_* environment variables; see `citewise config show`."""


for _module in COMMAND_MODULES:
    _module.register(app)

if __name__ == "__main__":
    app()
