"""``citewise tune``: settings and models learned from the user's data. Subcommands live in their own modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    help=(
        "Adapt citewise to your data: fusion for a collection (`tune retrieval`), its dense encoder "
        "(`tune encoder`), a reranker where it wins (`tune reranker`), the evidence gate (`tune gate`)."
    ),
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    from citewise.commands import tune_encoder, tune_gate, tune_reranker, tune_retrieval

    tune_retrieval.register(app)
    tune_encoder.register(app)
    tune_reranker.register(app)
    tune_gate.register(app)
    root.add_typer(app, name="tune")
