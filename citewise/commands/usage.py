"""``citewise usage``: LLM spend per tenant and API key (``<data_dir>/api/usage.sqlite``) against the budgets."""

from __future__ import annotations

import re

import typer
from rich.table import Table

from citewise.commands.common import console, handle_errors, print_json, settings
from citewise.errors import InvalidRequest

PERIOD = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


@handle_errors
def usage(
    period: str = typer.Option(
        "", "--period", help="YYYY-MM or YYYY-MM-DD (default: the current budget period; 'all': every period)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Answers, tokens and estimated cost per tenant and key id, and each tenant's budget state now."""
    from api.budgets import Budgets

    cfg = settings()
    if period and period != "all" and not PERIOD.match(period):
        raise InvalidRequest(f"--period {period!r}: use YYYY-MM, YYYY-MM-DD or 'all'")
    budgets = Budgets(cfg.budgets, cfg.data_dir)
    try:
        current, _ = budgets.period()
        chosen = None if period == "all" else (period or current)
        rows = budgets.store.rows(chosen)
        tenants = sorted({r["tenant"] for r in rows} | set(cfg.budgets.tenants))
        states = {t: budgets.standing(t).json() for t in tenants} if budgets.active else {}
    finally:
        budgets.close()
    if as_json:
        print_json({"period": chosen or "all", "budget_period": cfg.budgets.period, "rows": rows, "budgets": states})
        return
    table = Table("period", "tenant", "key id", "answers", "prompt tok", "completion tok", "cost USD")
    for r in rows:
        table.add_row(
            r["period"],
            r["tenant"],
            r["key_id"],
            str(r["answers"]),
            str(r["prompt_tokens"]),
            str(r["completion_tokens"]),
            f"{r['cost_usd']:.4f}",
        )
    console.print(table)
    if not rows:
        console.print(f"no answers recorded for {chosen or 'any period'}")
    for tenant, state in states.items():
        limit = "" if state["limit_usd"] is None else f" (limit ${state['limit_usd']:g}, {state['scope']})"
        console.print(f"tenant {tenant}: {state['state']}{limit}; the period resets at {state['resets_at']}")


def register(root: typer.Typer) -> None:
    root.command("usage")(usage)
