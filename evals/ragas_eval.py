"""RAGAS 0.4 metrics over answered questions: the judge-based ones when a judge LLM is given, the others always.

- judge metrics: ``faithfulness``, ``answer_relevancy`` (also needs embeddings: our dense encoder),
  ``context_precision`` and ``context_recall`` (both need a reference answer). The judge is any llama-index
  LLM (every provider of the generation layer builds one), through ragas' llama-index wrapper.
- non-LLM metrics: ``nonllm_context_precision`` / ``nonllm_context_recall`` (retrieved vs reference contexts,
  by string similarity), ``string_similarity``, ``exact_match``, ``string_presence`` (answer vs reference).

A metric runs only on the samples that have the fields it needs; a sample the judge could not score (an
unparsable verdict, a timeout) is NaN and counted in ``failed``, never a crash. Offline fixes (telemetry off,
tiktoken's bundled cache) are applied before ragas is imported.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from citewise.errors import InvalidRequest
from citewise.offline import apply_offline_defaults

JUDGE_METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
PLAIN_METRICS = (
    "nonllm_context_precision",
    "nonllm_context_recall",
    "string_similarity",
    "exact_match",
    "string_presence",
)
ALL_METRICS = JUDGE_METRICS + PLAIN_METRICS
# sample fields each metric needs (besides the question)
NEEDS: dict[str, tuple[str, ...]] = {
    "faithfulness": ("response", "retrieved_contexts"),
    "answer_relevancy": ("response",),
    "context_precision": ("retrieved_contexts", "reference"),
    "context_recall": ("retrieved_contexts", "reference"),
    "nonllm_context_precision": ("retrieved_contexts", "reference_contexts"),
    "nonllm_context_recall": ("retrieved_contexts", "reference_contexts"),
    "string_similarity": ("response", "reference"),
    "exact_match": ("response", "reference"),
    "string_presence": ("response", "reference"),
}


@dataclass(frozen=True)
class RagasSample:
    question: str
    response: str
    retrieved_contexts: tuple[str, ...]
    reference: str | None = None
    reference_contexts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RagasResult:
    """Per sample: metric -> score (absent: not applicable; None: the judge failed). Means skip both."""

    per_sample: list[dict[str, float | None]]
    means: dict[str, float]
    failed: dict[str, int]
    judge_calls: int = 0
    notes: list[str] = field(default_factory=list)


def parse_metrics(value: str | Sequence[str] | None, judge: bool) -> list[str]:
    """``None``: every metric that can run (judge metrics only with a judge)."""
    if value is None:
        return list(ALL_METRICS if judge else PLAIN_METRICS)
    items = [m.strip() for m in (value.split(",") if isinstance(value, str) else value) if m.strip()]
    unknown = [m for m in items if m not in ALL_METRICS]
    if unknown:
        raise InvalidRequest(f"unknown RAGAS metric(s) {', '.join(unknown)}; use any of {', '.join(ALL_METRICS)}")
    needing = [m for m in items if m in JUDGE_METRICS]
    if needing and not judge:
        raise InvalidRequest(f"{', '.join(needing)} need a judge LLM; pass --judge-llm (e.g. openai-like:MODEL)")
    return list(dict.fromkeys(items))


def _ragas() -> Any:
    apply_offline_defaults()  # RAGAS_DO_NOT_TRACK, TIKTOKEN_CACHE_DIR (bundled) before the first import
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ragas' own deprecation notes about its legacy metrics
        import ragas
        import ragas.metrics
    return ragas


# metric name -> (module of ragas.metrics, class, keyword arguments); modules by full name, since the
# package re-exports instances under some of the same names
_CLASSES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "faithfulness": ("_faithfulness", "Faithfulness", {}),
    "answer_relevancy": ("_answer_relevance", "ResponseRelevancy", {"strictness": 1}),
    "context_precision": ("_context_precision", "LLMContextPrecisionWithReference", {}),
    "context_recall": ("_context_recall", "LLMContextRecall", {}),
    "nonllm_context_precision": ("_context_precision", "NonLLMContextPrecisionWithReference", {}),
    "nonllm_context_recall": ("_context_recall", "NonLLMContextRecall", {}),
    "string_similarity": ("_string", "NonLLMStringSimilarity", {}),
    "exact_match": ("_string", "ExactMatch", {}),
    "string_presence": ("_string", "StringPresence", {}),
}


def _metric(name: str) -> Any:
    module, cls, kwargs = _CLASSES[name]
    return getattr(importlib.import_module(f"ragas.metrics.{module}"), cls)(**kwargs)


MAX_ITEMS = 6  # statements per answer the judge extracts and rates (with a response format)
MAX_CHARS = 300  # characters of a statement or a reason (with a response format)
_SCHEMA_IN_PROMPT = re.compile(r"as specified in JSON Schema:\n(\{.*?\})Do not use single quotes", re.DOTALL)


def response_format(prompt: str, kind: str) -> dict[str, Any] | None:
    """The request's ``response_format`` for a RAGAS prompt: the JSON schema it states (``kind`` "json_schema" or
    "json_object", see ``EvalsSettings.judge_response_format``), bounded: every list of 1 to ``MAX_ITEMS`` items
    (an empty statement list leaves faithfulness undefined), every string of at most ``MAX_CHARS`` characters (a
    small model that loops inside a string would otherwise run out of tokens mid-JSON). None for "none" or a
    prompt that states no schema."""
    found = _SCHEMA_IN_PROMPT.search(prompt) if kind != "none" else None
    if found is None:
        return None
    stated = json.loads(found.group(1))
    schema = _inlined(stated, stated.get("$defs", {}))
    _bounded(schema)
    if kind == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "ragas_output", "schema": schema}}


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/X"}`` replaced by X and ``$defs`` dropped (pydantic writes nested
    models so; not every server's schema-to-grammar converter follows references)."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inlined(v, defs) for v in node]
    return node


def _bounded(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "array":
            node.setdefault("minItems", 1)
            node.setdefault("maxItems", MAX_ITEMS)
        if node.get("type") == "string":
            node.setdefault("maxLength", MAX_CHARS)
        for child in node.values():
            _bounded(child)
    elif isinstance(node, list):
        for child in node:
            _bounded(child)


class CountingJudge:
    """Builds ragas' llama-index wrapper around ``llm``, counts the calls made to the judge and, with
    ``structured`` other than "none", asks for output in the schema each prompt states (``response_format``)."""

    def __init__(self, llm: Any, structured: str = "none") -> None:
        from langchain_core.outputs import Generation, LLMResult
        from ragas.llms.base import LlamaIndexLLMWrapper

        counter = self

        class _Counted(LlamaIndexLLMWrapper):  # type: ignore[misc]
            async def agenerate_text(self, prompt: Any, *args: Any, **kwargs: Any) -> Any:
                counter.calls += 1
                wanted = response_format(prompt.to_string(), structured)
                if wanted is None:
                    return await super().agenerate_text(prompt, *args, **kwargs)
                reply = await self.llm.acomplete(prompt.to_string(), temperature=0.0, response_format=wanted)
                return LLMResult(generations=[[Generation(text=reply.text)]])

            def generate_text(self, prompt: Any, *args: Any, **kwargs: Any) -> Any:
                counter.calls += 1
                wanted = response_format(prompt.to_string(), structured)
                if wanted is None:
                    return super().generate_text(prompt, *args, **kwargs)
                reply = self.llm.complete(prompt.to_string(), temperature=0.0, response_format=wanted)
                return LLMResult(generations=[[Generation(text=reply.text)]])

        self.calls = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.wrapper = _Counted(llm)


def encoder_embeddings(encoder: Any) -> Any:
    """Our dense encoder as ragas embeddings (for answer_relevancy)."""
    from ragas.embeddings import BaseRagasEmbeddings

    class _Embeddings(BaseRagasEmbeddings):  # type: ignore[misc]
        def embed_query(self, text: str) -> list[float]:
            return [float(x) for x in encoder.encode([text])[0]]

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in encoder.encode(list(texts))]

        async def aembed_query(self, text: str) -> list[float]:
            return self.embed_query(text)

        async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.embed_documents(texts)

    return _Embeddings()


def _has(sample: RagasSample, fields: tuple[str, ...]) -> bool:
    return all(bool(getattr(sample, f)) for f in fields)


def run_ragas(
    samples: Sequence[RagasSample],
    metrics: Sequence[str],
    judge_llm: Any | None = None,
    encoder: Any | None = None,
    timeout_s: float = 120.0,
    workers: int = 2,
    judge_format: str = "none",
) -> RagasResult:
    """Score ``samples`` with each metric (one ``ragas.evaluate`` per metric over the samples it applies to)."""
    ragas = _ragas()
    from ragas.dataset_schema import EvaluationDataset, SingleTurnSample
    from ragas.run_config import RunConfig

    judge = CountingJudge(judge_llm, judge_format) if judge_llm is not None else None
    embeddings = encoder_embeddings(encoder) if encoder is not None else None
    config = RunConfig(timeout=int(timeout_s), max_retries=1, max_wait=2, max_workers=workers)
    per_sample: list[dict[str, float | None]] = [{} for _ in samples]
    failed: dict[str, int] = {}
    notes: list[str] = []
    for name in metrics:
        if name in JUDGE_METRICS and judge is None:
            raise InvalidRequest(f"{name} needs a judge LLM; pass --judge-llm")
        if name == "answer_relevancy" and embeddings is None:
            raise InvalidRequest("answer_relevancy needs embeddings; pass the dense encoder")
        chosen = [i for i, s in enumerate(samples) if _has(s, NEEDS[name])]
        if not chosen:
            notes.append(f"{name}: no question has {' and '.join(NEEDS[name])}; not computed")
            continue
        dataset = EvaluationDataset(
            samples=[
                SingleTurnSample(
                    user_input=samples[i].question,
                    response=samples[i].response or None,
                    retrieved_contexts=list(samples[i].retrieved_contexts) or None,
                    reference=samples[i].reference,
                    reference_contexts=list(samples[i].reference_contexts) or None,
                )
                for i in chosen
            ]
        )
        metric = _metric(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = ragas.evaluate(
                dataset,
                metrics=[metric],
                llm=judge.wrapper if judge is not None and name in JUDGE_METRICS else None,
                embeddings=embeddings if name == "answer_relevancy" else None,
                run_config=config,
                raise_exceptions=False,
                show_progress=False,
                allow_nest_asyncio=False,
            )
        for i, row in zip(chosen, result.scores, strict=True):
            value = row.get(metric.name)
            ok = isinstance(value, int | float) and not math.isnan(float(value))
            per_sample[i][name] = float(value) if ok else None
            if not ok:
                failed[name] = failed.get(name, 0) + 1
    means: dict[str, float] = {}
    for name in metrics:
        values = [v for row in per_sample for k, v in row.items() if k == name and v is not None]
        if values:
            means[name] = round(sum(values) / len(values), 6)
    for name, count in failed.items():
        notes.append(f"{name}: the judge could not score {count} question(s) (NaN, left out of the mean)")
    return RagasResult(per_sample, means, failed, judge.calls if judge is not None else 0, notes)
