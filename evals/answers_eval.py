"""Answer quality over a QA set: retrieve, answer with the configured answerer, score with our metrics and RAGAS.

SQuAD 2.0 paragraphs are ingested into their own collection (``qa_<file name>``, reused when unchanged); a
JSONL QA set is answered from an existing collection. Every metric is "higher is better" (for one gate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citewise.errors import CitewiseError, ConfigError, InvalidRequest
from citewise.settings import GenerationSettings, Settings
from citewise.types import DEFAULT_TENANT, Answer
from evals.answer_metrics import mean_scores, score_answer
from evals.qa import QAItem, QASet, load_qa
from evals.ragas_eval import JUDGE_METRICS, RagasSample, parse_metrics, run_ragas

RAGAS_PREFIX = "ragas/"


@dataclass(frozen=True)
class AnswersReport:
    dataset: dict[str, Any]
    collection: str
    ingest: dict[str, Any] | None
    llm: str
    judge: str | None
    k: int
    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    judge_calls: int = 0
    elapsed_s: float = 0.0
    fallbacks: int = 0  # LLM answers replaced by the extractive answer

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "answers",
            "dataset": self.dataset,
            "collection": self.collection,
            "ingest": self.ingest,
            "llm": self.llm,
            "judge": self.judge,
            "judge_calls": self.judge_calls,
            "fallbacks": self.fallbacks,
            "k": self.k,
            "metrics": self.metrics,
            "notes": self.notes,
            "elapsed_s": self.elapsed_s,
            "per_question": self.rows,
        }


def judge_settings(settings: Settings, name: str) -> GenerationSettings:
    """Generation settings for the judge: ``CITEWISE_EVALS__JUDGE_*``, falling back to the generation ones."""
    ev, gen = settings.evals, settings.generation
    return gen.model_copy(
        update={
            "llm": name,
            "model": ev.judge_model,
            "base_url": ev.judge_base_url or gen.base_url,
            "api_key": ev.judge_api_key or gen.api_key,
            "temperature": 0.0,
            "max_tokens": ev.judge_max_tokens,
            "timeout_s": ev.judge_timeout_s,
        }
    )


def build_judge(settings: Settings, name: str) -> Any:
    """The judge as a llama-index LLM, from any generation provider (``ConfigError`` says what is missing)."""
    from generation.providers import build_chat_model

    chat = build_chat_model(judge_settings(settings, name), name)
    if chat is None:
        raise ConfigError(f"the judge must be an LLM, not {name!r}; use e.g. --judge-llm openai-like:MODEL")
    return getattr(chat, "llm", None) or chat


def _row(item: QAItem, answer: Answer | None, error: str | None, scores: dict[str, float], checks: list[Any]) -> dict:
    row: dict[str, Any] = {
        "id": item.qid,
        "question": item.question,
        "reference": item.reference,
        "answerable": item.answerable,
        "scores": scores,
    }
    if answer is None:
        return {**row, "answer": "", "abstained": False, "citations": [], "error": error}
    by_n = {c["n"]: c for c in checks}
    row.update(
        answer=answer.answer,
        abstained=answer.abstained,
        model=answer.model,
        fallback_from=answer.fallback_from or None,
        citations=[
            {
                "n": c.n,
                "doc_id": c.doc_id,
                "source": c.source,
                "title": c.title,
                "char_start": c.char_start,
                "char_end": c.char_end,
                "quote": c.quote,
                **{k: v for k, v in by_n.get(c.n, {}).items() if k != "n"},
            }
            for c in answer.citations
        ],
        timings_ms=dict(answer.timings_ms),
    )
    return row


def evaluate_answers(
    settings: Settings,
    qa_path: str | Path,
    *,
    limit: int | None = None,
    metrics: str | Sequence[str] | None = None,
    judge: str | None = None,
    llm: str | None = None,
    k: int = 5,
    prompt: str | None = None,
    rerank: bool | None = None,
    mode: str | None = None,
    collection: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AnswersReport:
    from citewise.docstore import DocStore
    from citewise.encoders import Bm25Encoder, load_dense_encoder
    from citewise.index import open_index
    from evals.corpus import collection_for, ingest_corpus
    from generation import Answerer
    from retrieval import Retriever, access_filter
    from retrieval.rerank import CrossEncoderReranker

    started = time.perf_counter()
    qa: QASet = load_qa(qa_path).sample(limit)
    judge = judge or settings.evals.judge_llm or None
    chosen = parse_metrics(metrics, judge is not None)
    judge_llm = build_judge(settings, judge) if judge and any(m in JUDGE_METRICS for m in chosen) else None
    name = collection or (collection_for(qa.name, "qa") if qa.documents else settings.qdrant.collection)
    index = open_index(settings, name)
    docstore = DocStore(settings.data_dir, index.collection)
    try:
        dense, sparse = load_dense_encoder(settings.encoder, settings.data_dir, index.collection), Bm25Encoder()
        ingest = None
        if qa.documents:
            s = ingest_corpus(settings, qa.name, qa.documents, index, dense, sparse).summary
            ingest = {"ingested": s.files.ingested, "unchanged": s.files.unchanged, "failed": s.files.failed}
        elif index.count() == 0:
            raise InvalidRequest(
                f"collection {index.collection!r} is empty; ingest the documents first (citewise ingest) "
                "or pass --collection"
            )
        cfg = settings.retrieval
        reranker = CrossEncoderReranker(cfg.reranker_model, device=settings.encoder.device)
        retriever = Retriever(cfg, index, dense, sparse, reranker)
        answerer = Answerer.from_settings(settings, retriever)
        scope = access_filter(DEFAULT_TENANT)

        def text_of(doc_id: str) -> str | None:
            try:
                return docstore.get_text(doc_id)
            except CitewiseError:
                return None

        rows: list[dict[str, Any]] = []
        samples: list[RagasSample | None] = []
        ours: list[dict[str, float]] = []
        failures = 0
        for i, item in enumerate(qa.items, 1):
            contexts = tuple(
                h.chunk.text for h in retriever.search(item.question, k=k, filters=scope, mode=mode, rerank=rerank).hits
            )
            try:
                answer = answerer.answer(
                    item.question, k=k, filters=scope, llm=llm, prompt=prompt, rerank=rerank, mode=mode
                )
            except (ConfigError, InvalidRequest):
                raise
            except CitewiseError as exc:  # one failed question (timeout, bad LLM output) does not end the run
                failures += 1
                if failures == len(qa.items):
                    raise
                rows.append(_row(item, None, f"{exc.code}: {exc.message}", {}, []))
                samples.append(None)
                continue
            scored = score_answer(item, answer, text_of)
            ours.append(scored.scores)
            rows.append(_row(item, answer, None, dict(scored.scores), scored.citation_checks))
            response = "" if answer.abstained else answer.answer
            samples.append(RagasSample(item.question, response, contexts, item.reference, item.reference_contexts))
            if progress is not None:
                progress(i, len(qa.items))
        answered = [(row, sample) for row, sample in zip(rows, samples, strict=True) if sample is not None]
        ragas = run_ragas(
            [sample for _, sample in answered],
            chosen,
            judge_llm,
            dense,
            timeout_s=settings.evals.judge_timeout_s,
            workers=settings.evals.judge_workers,
            judge_format=settings.evals.judge_response_format,
        )
    finally:
        index.close()
        docstore.close()
    for (row, _), extra in zip(answered, ragas.per_sample, strict=True):
        row["scores"].update({RAGAS_PREFIX + k: v for k, v in extra.items()})
    notes = list(ragas.notes)
    if failures:
        notes.append(f"{failures} question(s) failed to answer (see their 'error'); left out of every metric")
    fallbacks = sum(1 for row in rows if row.get("fallback_from"))
    if fallbacks:
        notes.append(f"{fallbacks} LLM answer(s) fell back to the extractive answer (see 'fallback_from')")
    merged = {**mean_scores(ours), **{RAGAS_PREFIX + k: v for k, v in ragas.means.items()}}
    return AnswersReport(
        dataset={
            "name": qa.name,
            "path": str(qa.path),
            "questions": len(qa.items),
            "answerable": sum(q.answerable for q in qa.items),
            "documents": len(qa.documents),
        },
        collection=name,
        ingest=ingest,
        llm=llm or settings.generation.llm,
        judge=judge,
        k=k,
        metrics=merged,
        rows=rows,
        notes=notes,
        judge_calls=ragas.judge_calls,
        elapsed_s=round(time.perf_counter() - started, 3),
        fallbacks=fallbacks,
    )
