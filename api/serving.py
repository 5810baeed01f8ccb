"""What ``POST /v1/ask`` does around the answerer: the budget check (api.budgets) and the response cache (api.cache).

``admit`` runs before answering (429 over a hard budget; the extractive answerer over a soft one; the cache key),
``lookup`` tries the cache, ``settle`` records spend and stores a fresh answer, ``extras`` are the fields the
answer JSON gains: ``cache`` (``hit``, ``miss`` or ``off``) and, where a budget applies, ``budget``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.auth import Principal
from api.budgets import BudgetExceeded, BudgetState
from api.cache import Variant, cache_key
from api.services import Services
from citewise.types import Answer

EXTRACTIVE = "extractive"


@dataclass(frozen=True)
class Ticket:
    """One admitted request: the llm to use, the caller's budget state and the cache key (None: cache off)."""

    llm: str | None
    budget: BudgetState
    key: str | None


def admit(
    services: Services, caller: Principal, question: str, llm: str | None, prompt: str | None, k: int, filters: Any
) -> Ticket:
    tenant = caller.tenant
    try:
        budget = services.budgets.check(tenant, caller.key_id)
    except BudgetExceeded:
        services.metrics.budget.labels(tenant=tenant, state="hard").inc()
        raise
    if budget.state == "soft":
        services.metrics.budget.labels(tenant=tenant, state="soft").inc()
        llm = EXTRACTIVE
    key = None
    if services.cache.enabled and services.docstore is not None:
        gen = services.settings.generation
        variant = Variant(llm or gen.llm, prompt or gen.prompt, k, filters, None)
        key = cache_key(tenant, caller.groups, question, variant, services.docstore.version())
    return Ticket(llm, budget, key)


def lookup(services: Services, ticket: Ticket) -> Answer | None:
    if ticket.key is None:
        return None
    hit = services.cache.get(ticket.key)
    services.metrics.cache.labels(result="hit" if hit is not None else "miss").inc()
    return hit


def settle(services: Services, caller: Principal, ticket: Ticket, answer: Answer, hit: bool) -> None:
    if hit:
        return  # served from memory: no spend, nothing new to store
    if ticket.key is not None:
        services.cache.put(ticket.key, answer)
    usage = answer.usage
    services.budgets.record(caller.tenant, caller.key_id, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
    services.metrics.spend.labels(tenant=caller.tenant).inc(max(usage.cost_usd, 0.0))


def extras(services: Services, ticket: Ticket, hit: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"cache": "off" if ticket.key is None else ("hit" if hit else "miss")}
    if services.budgets.active:
        out["budget"] = ticket.budget.json()
    return out
