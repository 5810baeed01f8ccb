"""``citewise tune``: models that learn from the user's data. Subcommands live in their own modules."""

from __future__ import annotations

import typer

app = typer.Typer(help="Adapt models to your data (the evidence gate: `citewise tune gate`).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    from citewise.commands import tune_gate

    tune_gate.register(app)
    root.add_typer(app, name="tune")
