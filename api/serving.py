"""What ``POST /v1/ask`` does around the answerer: the experiment variant (api.experiments), the budget check
(api.budgets) and the response cache (api.cache).

``admit`` runs before answering (the caller's variant fills the settings the request left unset; 429 over a hard
budget; the extractive answerer over a soft one; the cache key), ``lookup`` tries the cache, ``settle`` records
spend, the experiment row and stores a fresh answer, ``extras`` are the fields the answer JSON gains: ``cache``
(``hit``, ``miss`` or ``off``), where a budget applies ``budget``, and in an experiment ``experiment``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.auth import Principal
from api.budgets import BudgetExceeded, BudgetState
from api.cache import Variant, cache_key
from api.experiments import Experiment
from api.services import Services
from citewise.errors import CitewiseError, ConfigError
from citewise.settings import Settings
from citewise.types import Answer

EXTRACTIVE = "extractive"


def offered_llms(settings: Settings) -> tuple[str, ...]:
    """The ``llm`` values a request (or an experiment variant) may choose on this server."""
    return tuple(dict.fromkeys((EXTRACTIVE, settings.generation.llm, *settings.api.llms)))


def check_experiment(experiment: Experiment | None, settings: Settings) -> Experiment | None:
    """``experiment`` if every variant's llm is offered here and its prompt exists; else ``ConfigError``."""
    from generation.prompts import load_prompt

    for variant in experiment.variants if experiment is not None else ():
        where = f"CITEWISE_EXPERIMENTS_FILE: variant {variant.name}"
        llm = variant.overrides.get("llm")
        if llm is not None and llm not in offered_llms(settings):
            offered = ", ".join(offered_llms(settings))
            raise ConfigError(f"{where}: llm {llm!r} is not offered here ({offered}); add it to CITEWISE_API__LLMS")
        if "prompt" in variant.overrides:
            try:
                load_prompt(variant.overrides["prompt"])
            except CitewiseError as exc:
                raise ConfigError(f"{where}: {exc.message}") from None
    return experiment


@dataclass(frozen=True)
class Ticket:
    """One admitted request: the answer settings to use, the caller's budget state, the cache key (None: cache
    off) and the experiment variant (None: no experiment)."""

    llm: str | None
    prompt: str | None
    k: int
    rerank: bool | None
    budget: BudgetState
    key: str | None
    experiment: str | None = None
    variant: str | None = None
    mode: str | None = None  # the variant's retrieval mode (None: the settings')

    def answer_args(self, filters: Any) -> dict[str, Any]:
        """The keyword arguments of ``Answerer.answer``/``stream`` for this ticket and the caller's ``filters``."""
        args = {"k": self.k, "filters": filters, "llm": self.llm, "prompt": self.prompt, "rerank": self.rerank}
        return {**args, "mode": self.mode}


def admit(
    services: Services,
    caller: Principal,
    question: str,
    llm: str | None,
    prompt: str | None,
    k: int | None,
    filters: Any,
    conversation_id: str | None = None,
) -> Ticket:
    """``k=None``: the request did not set it (the variant's or 5); ``conversation_id``: a conversation's message
    (an experiment sticky per conversation assigns by it)."""
    tenant = caller.tenant
    experiment, variant, rerank, mode = services.experiment, None, None, None
    if experiment is not None:
        chosen = experiment.assign(caller.key_id, conversation_id)
        variant, o = chosen.name, chosen.overrides
        llm = llm if llm is not None else o.get("llm")
        prompt = prompt if prompt is not None else o.get("prompt")
        k = k if k is not None else o.get("k")
        rerank, mode = o.get("rerank"), o.get("mode")
    k = k if k is not None else 5
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
        shape = Variant(llm or gen.llm, prompt or gen.prompt, k, filters, rerank, mode)
        key = cache_key(tenant, caller.groups, question, shape, services.docstore.version())
    name = experiment.name if experiment is not None else None
    return Ticket(llm, prompt, k, rerank, budget, key, name, variant, mode)


def lookup(services: Services, ticket: Ticket) -> Answer | None:
    if ticket.key is None:
        return None
    hit = services.cache.get(ticket.key)
    services.metrics.cache.labels(result="hit" if hit is not None else "miss").inc()
    return hit


def settle(
    services: Services, caller: Principal, ticket: Ticket, answer: Answer, hit: bool, question: str = ""
) -> None:
    earlier = services.reasks.seen(caller.tenant, caller.key_id, question, answer.answer_id) if question else None
    if earlier is not None and services.signals.add(earlier, caller.tenant, "reask"):
        services.metrics.signals.labels(kind="reask").inc()
    if services.experiments is not None and ticket.experiment is not None and ticket.variant is not None:
        services.experiments.record(ticket.experiment, ticket.variant, caller.tenant, caller.key_id, answer, hit)
        outcome = "abstained" if answer.abstained else "answered"
        services.metrics.experiment.labels(ticket.experiment, ticket.variant, outcome).inc()
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
    if ticket.experiment is not None:
        out["experiment"] = {"name": ticket.experiment, "variant": ticket.variant}
    return out
