"""The ``citewise`` command: mounts each command group from ``citewise.commands``."""

from __future__ import annotations

import importlib

import typer

from citewise import __version__

COMMAND_MODULES = (
    "citewise.commands.config",
    "citewise.commands.index",
    "citewise.commands.ingest",
    "citewise.commands.documents",
    "citewise.commands.search",
    "citewise.commands.ask",
    "citewise.commands.chat",
    "citewise.commands.evaluate",
    "citewise.commands.serve",
    "citewise.commands.tune",
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


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)

if __name__ == "__main__":
    app()
