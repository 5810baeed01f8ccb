"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "citewise_http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "citewise_http_request_duration_seconds",
            "HTTP request latency (to the end of the body)",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage = Histogram(
            "citewise_stage_duration_seconds",
            "Latency of each pipeline stage (encode, retrieve, rerank, generate, verify, ...)",
            ["op", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("citewise_llm_tokens", "LLM tokens used", ["kind"], registry=r)
        self.cost = Counter("citewise_llm_cost_usd", "Estimated LLM cost in US dollars", registry=r)
        self.errors = Counter("citewise_errors", "Error responses by error code", ["code"], registry=r)
        self.feedback = Counter("citewise_feedback", "Answer feedback received", ["rating"], registry=r)
        self.fallbacks = Counter(
            "citewise_answer_fallbacks",
            "LLM answers replaced by the extractive answer (no supported, relevant sentence)",
            ["from_model"],
            registry=r,
        )
        self.cache = Counter("citewise_answer_cache", "POST /v1/ask response cache lookups", ["result"], registry=r)
        self.spend = Counter("citewise_llm_spend_usd", "Estimated LLM spend by tenant (USD)", ["tenant"], registry=r)
        self.budget = Counter(
            "citewise_budget_events",
            "Answers moved to the extractive answerer (soft) or refused (hard) by a budget",
            ["tenant", "state"],
            registry=r,
        )
        self.experiment = Counter(
            "citewise_experiment_answers",
            "Answers served under an A/B experiment, by variant and outcome (answered, abstained)",
            ["experiment", "variant", "outcome"],
            registry=r,
        )
        self.signals = Counter(
            "citewise_answer_signals", "Implicit feedback on answers (copy, open_citation, reask)", ["kind"], registry=r
        )
        self.jobs = Counter("citewise_ingest_jobs", "Ingest jobs finished, by final state", ["state"], registry=r)

    def observe_stages(self, op: str, timings_ms: Mapping[str, float]) -> None:
        for stage, ms in timings_ms.items():
            if stage != "total":
                self.stage.labels(op=op, stage=stage).observe(max(ms, 0.0) / 1000.0)

    def observe_usage(self, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        self.tokens.labels(kind="prompt").inc(max(prompt_tokens, 0))
        self.tokens.labels(kind="completion").inc(max(completion_tokens, 0))
        self.cost.inc(max(cost_usd, 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
