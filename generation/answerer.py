"""The Answerer: retrieve → (LLM with a versioned prompt | extractive) → verify citations → answer or abstain.

``answer()`` returns an ``Answer``; ``stream()`` yields ``StreamEvent``s: ``token`` (text pieces as they
come), then ``citations`` (tuple of Citation), then ``done`` (the final, verified Answer); or ``error``
(``{"code", "message", "status"}``) if the LLM fails midway. Streamed tokens are the raw model text; the
``done`` answer is authoritative (unsupported sentences flagged or removed, bad citations dropped).

An LLM answer is cleaned of echoed prompt parts, bounded, verified and checked for relevance
(``generation.llm_answer``). When the evidence gate passed but no sentence of it is both supported and
relevant, the answer comes from the extractive answerer instead (``model="extractive"``,
``fallback_from="provider:model"``), after one repair round when ``GenerationSettings.repair`` is on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from citewise.errors import CitewiseError, InvalidRequest
from citewise.index import Filter
from citewise.settings import GenerationSettings, Settings
from citewise.types import Answer, Citation, SearchResult, Usage
from generation.abstention import abstain_text
from generation.citations import DocumentTexts, TextSource, cite, distinct_passages, whole_sentences
from generation.extractive import Ranked, focus, procedure_ref
from generation.gate import EvidenceGate
from generation.llm_answer import Checked, check, repair_messages
from generation.prompts import Messages, Passage, display_name, load_prompt, render
from generation.providers import ChatModel, build_chat_model
from generation.support import Scorer
from generation.text import split_answer
from generation.usage import estimate_tokens, price
from generation.verify import Source, Verified, render_answer

MAX_QUESTION_CHARS = 4000
MAX_K = 50
CLOSEST_SOURCES = 3


@dataclass(frozen=True)
class StreamEvent:
    kind: Literal["token", "citations", "done", "error"]
    data: Any


class RetrieverLike(Protocol):
    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filter | None = None,
        mode: str | None = None,
        rerank: bool | None = None,
    ) -> SearchResult: ...


@dataclass(frozen=True)
class _Plan:
    question: str
    k: int
    filters: Filter | None
    chat: ChatModel | None
    prompt_ref: str
    prompt_hash: str
    model: str
    render: Callable[[list[Passage]], Messages] | None
    rerank: bool | None = None  # None: the retriever's setting
    mode: str | None = None  # retrieval mode (hybrid, dense, sparse); None: the retriever's setting


class Answerer:
    """Answers questions from retrieved passages; every citation checked. Thread-safe if the retriever is."""

    def __init__(
        self,
        settings: GenerationSettings,
        retriever: RetrieverLike,
        texts: TextSource | None = None,
        scorer: Scorer | None = None,
        chat_factory: Callable[[GenerationSettings, str | None], ChatModel | None] = build_chat_model,
        gate: EvidenceGate | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.texts = texts
        self.scorer = scorer or Scorer()
        self.gate = gate or EvidenceGate(self.scorer, None, settings.min_evidence)  # no model: the min_evidence rule
        self.chat_factory = chat_factory
        self._chats: dict[str, ChatModel | None] = {}
        self.default_chat = self._chat(None)  # fail fast on a missing key/model/URL

    @classmethod
    def from_settings(cls, settings: Settings, retriever: Any) -> Answerer:
        """Use the retriever's dense encoder for support scores and the collection's docstore for quotes."""
        from citewise.docstore import DocStore

        index = getattr(retriever, "index", None)
        collection = getattr(index, "collection", None) or settings.qdrant.collection
        scorer = Scorer(getattr(retriever, "dense", None), languages=getattr(retriever, "languages", ("*",)))
        gate = EvidenceGate.from_data_dir(settings.data_dir, scorer, settings.generation.min_evidence)
        return cls(settings.generation, retriever, DocStore(settings.data_dir, collection), scorer, gate=gate)

    def _chat(self, llm: str | None) -> ChatModel | None:
        key = llm or ""
        if key not in self._chats:
            self._chats[key] = self.chat_factory(self.settings, llm)
        return self._chats[key]

    def answer(
        self,
        question: str,
        k: int = 5,
        filters: Filter | None = None,
        llm: str | None = None,
        prompt: str | None = None,
        rerank: bool | None = None,
        mode: str | None = None,
    ) -> Answer:
        """Answer ``question``; raises ``CitewiseError`` subclasses (bad input, LLM failure, timeout).
        ``rerank=False`` skips the reranker (``--no-rerank``), ``mode`` picks the retrieval mode; ``None`` follows
        the settings."""
        steps = self._steps(self._plan(question, k, filters, llm, prompt, rerank, mode), streaming=False)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                answer: Answer = stop.value
                return answer

    def stream(
        self,
        question: str,
        k: int = 5,
        filters: Filter | None = None,
        llm: str | None = None,
        prompt: str | None = None,
        rerank: bool | None = None,
        mode: str | None = None,
    ) -> Iterator[StreamEvent]:
        """Validate now (bad input raises here), then yield events; failures midway become an ``error`` event."""
        return self._events(self._plan(question, k, filters, llm, prompt, rerank, mode))

    def _events(self, plan: _Plan) -> Iterator[StreamEvent]:
        try:
            answer = yield from self._steps(plan, streaming=True)
        except CitewiseError as exc:
            yield StreamEvent("error", {"code": exc.code, "message": exc.message, "status": exc.status})
            return
        yield StreamEvent("citations", answer.citations)
        yield StreamEvent("done", answer)

    def _plan(
        self,
        question: str,
        k: int,
        filters: Filter | None,
        llm: str | None,
        prompt: str | None,
        rerank: bool | None = None,
        mode: str | None = None,
    ) -> _Plan:
        if not isinstance(question, str) or not question.strip():
            raise InvalidRequest("the question is empty; ask something")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidRequest(f"the question has {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
        if not 1 <= k <= MAX_K:
            raise InvalidRequest(f"k={k} is out of range; use 1..{MAX_K}")
        chat = self._chat(llm)
        if chat is None:
            ref, digest = procedure_ref(self.settings.extractive_sentences)
            return _Plan(question.strip(), k, filters, None, ref, digest, "extractive", None, rerank, mode)
        template = load_prompt(prompt or self.settings.prompt)
        text = question.strip()

        def _render(passages: list[Passage]) -> Messages:
            return render(template, text, passages, self.settings.max_sentences)

        model = f"{chat.provider}:{chat.model}"
        return _Plan(text, k, filters, chat, template.ref, template.sha256, model, _render, rerank, mode)

    def _steps(self, plan: _Plan, streaming: bool) -> Generator[StreamEvent, None, Answer]:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        result = self.retriever.search(
            plan.question, k=plan.k, filters=plan.filters, mode=plan.mode, rerank=plan.rerank
        )
        timings["retrieve"] = _ms(started)
        texts = DocumentTexts(self.texts)  # a chunk cut mid-sentence is widened to quote that sentence whole
        hits = distinct_passages([whole_sentences(hit, texts) for hit in result.hits])
        sources = [Source.from_hit(i, hit) for i, hit in enumerate(hits, 1)]
        t0 = time.perf_counter()
        assessment = self.gate.assess(plan.question, sources)
        ranked = [Ranked(s.score, s.source, s.candidate.span) for s in assessment.sentences]
        timings["evidence"] = _ms(t0)
        evidence = ranked[0].score if ranked else 0.0
        probability = assessment.probability if assessment.method == "gate" else None
        if not assessment.answerable:
            answer = replace(
                self._abstain(plan, sources, ranked, Usage(), timings, started),
                evidence=evidence,
                answer_probability=probability,
            )
            yield StreamEvent("token", answer.answer)
            return answer
        # the extractive answer: support is the gate's question-sentence evidence, not the quote checked against
        # itself; an LLM answer that keeps nothing falls back to it
        t0 = time.perf_counter()
        extractive = focus(list(assessment.sentences), plan.question, self.settings.extractive_sentences)
        if plan.chat is not None:
            answer = yield from self._llm_steps(
                plan, sources, ranked, extractive, evidence, streaming, timings, started, t0
            )
            return replace(answer, answer_probability=probability)
        if streaming:
            for i, (sentence, _) in enumerate(split_answer(render_answer(extractive.sentences))):
                yield StreamEvent("token", sentence if i == 0 else " " + sentence)
        timings["generate"] = _ms(t0)
        timings["verify"] = 0.0  # the gate scored each sentence's support (``evidence``)
        if not extractive.any_supported:
            answer = self._abstain(plan, sources, ranked, Usage(), timings, started)
        else:
            answer = self._finish(plan, sources, extractive, Usage(), timings, started)
        return replace(answer, evidence=evidence, answer_probability=probability)

    # --- the LLM path -------------------------------------------------------------------------------------

    def _llm_steps(
        self,
        plan: _Plan,
        sources: list[Source],
        ranked: list[Ranked],
        extractive: Verified,
        evidence: float,
        streaming: bool,
        timings: dict[str, float],
        started: float,
        t0: float,
    ) -> Generator[StreamEvent, None, Answer]:
        """Generate, clean, verify, check relevance; repair once if configured; else fall back."""
        assert plan.render is not None and plan.chat is not None
        passages = [_passage(s) for s in sources]
        messages = plan.render(passages)
        text, counts = yield from self._generate(plan.chat, messages, streaming, timings, started)
        usage = self._usage(plan.chat.model, messages, text, counts)
        timings["generate"] = _ms(t0)
        t0 = time.perf_counter()
        checked = self._check(plan, text, sources, passages, messages, evidence)
        timings["verify"] = _ms(t0)
        if not checked.kept and self.settings.repair:
            t0 = time.perf_counter()
            again = repair_messages(messages, checked, self.settings.max_sentences)
            completion = plan.chat.complete(again)
            more = self._usage(
                plan.chat.model, again, completion.text, (completion.prompt_tokens, completion.completion_tokens)
            )
            usage = _add(usage, more)
            timings["repair"] = _ms(t0)
            checked = self._check(plan, completion.text, sources, passages, messages, evidence)
        if checked.kept:
            answer = self._finish(plan, sources, checked.verified, usage, timings, started)
        elif self.settings.fallback == "extractive":
            answer = self._fallback(plan, sources, ranked, extractive, checked, usage, timings, started)
        else:
            answer = self._abstain(plan, sources, ranked, usage, timings, started)
        return replace(answer, evidence=evidence)

    def _generate(
        self, chat: ChatModel, messages: Messages, streaming: bool, timings: dict[str, float], started: float
    ) -> Generator[StreamEvent, None, tuple[str, tuple[int | None, int | None]]]:
        if not streaming:
            completion = chat.complete(messages)
            return completion.text, (completion.prompt_tokens, completion.completion_tokens)
        pieces: list[str] = []
        counts: tuple[int | None, int | None] = (None, None)
        for delta in chat.stream(messages):
            if delta.text:
                if not pieces:
                    timings["first_token"] = _ms(started)
                pieces.append(delta.text)
                yield StreamEvent("token", delta.text)
            if delta.prompt_tokens is not None:
                counts = (delta.prompt_tokens, delta.completion_tokens)
        return "".join(pieces), counts

    def _check(
        self,
        plan: _Plan,
        text: str,
        sources: list[Source],
        passages: list[Passage],
        messages: Messages,
        evidence: float,
    ) -> Checked:
        return check(text, plan.question, sources, passages, messages, evidence, self.scorer, self.settings)

    def _fallback(
        self,
        plan: _Plan,
        sources: list[Source],
        ranked: list[Ranked],
        verified: Verified,
        checked: Checked,
        usage: Usage,
        timings: dict[str, float],
        started: float,
    ) -> Answer:
        """The extractive answer (``verified``), marked as a fallback; the LLM's sentences stay in ``sentences``,
        not shown."""
        if not verified.any_supported:
            return self._abstain(plan, sources, ranked, usage, timings, started)
        rejected = tuple(replace(s, shown=False) for s in checked.verified.sentences)
        ref, digest = procedure_ref(self.settings.extractive_sentences)
        extractive = replace(plan, prompt_ref=ref, prompt_hash=digest, model="extractive")
        answer = self._finish(
            extractive, sources, replace(verified, sentences=verified.sentences + rejected), usage, timings, started
        )
        return replace(answer, fallback_from=plan.model)

    # --- shared -------------------------------------------------------------------------------------------

    def _finish(
        self,
        plan: _Plan,
        sources: list[Source],
        verified: Verified,
        usage: Usage,
        timings: dict[str, float],
        started: float,
    ) -> Answer:
        flag = self.settings.unsupported == "flag"
        sentences = tuple(
            s if s.supported or s.reason else replace(s, reason="unsupported", shown=flag) for s in verified.sentences
        )
        texts = DocumentTexts(self.texts)
        by_n = {s.n: s for s in sources}
        used = sorted({n for s in sentences if s.shown for n in s.citations})
        citations = [c for n in used if (c := cite(by_n[n], verified.evidence.get(n, ()), texts)) is not None]
        valid = {c.n for c in citations}
        sentences = tuple(replace(s, citations=tuple(n for n in s.citations if n in valid)) for s in sentences)
        timings["total"] = _ms(started)
        return Answer(
            answer=render_answer(tuple(s for s in sentences if s.shown)),
            abstained=False,
            citations=tuple(citations),
            sentences=sentences,
            prompt=plan.prompt_ref,
            model=plan.model,
            usage=usage,
            timings_ms=timings,
            answer_id=uuid.uuid4().hex,
            prompt_hash=plan.prompt_hash,
        )

    def _abstain(
        self,
        plan: _Plan,
        sources: list[Source],
        ranked: list[Ranked],
        usage: Usage,
        timings: dict[str, float],
        started: float,
    ) -> Answer:
        """Say the documents do not contain the answer; cite the closest sources (best sentence of each)."""
        texts = DocumentTexts(self.texts)
        by_n = {s.n: s for s in sources}
        best: dict[int, Ranked] = {}
        for r in ranked:
            best.setdefault(r.source, r)
        citations: list[Citation] = []
        for r in sorted(best.values(), key=lambda r: (-r.score, r.source)):
            if len(citations) >= CLOSEST_SOURCES:
                break
            c = cite(by_n[r.source], [r.span], texts)
            if c is not None:
                citations.append(c)
        listing = "; ".join(f"[{c.n}] {display_name(c.title, c.source)}" for c in citations)  # never a path
        text = abstain_text(plan.question, listing)
        timings["total"] = _ms(started)
        return Answer(
            answer=text,
            abstained=True,
            citations=tuple(citations),
            sentences=(),
            prompt=plan.prompt_ref,
            model=plan.model,
            usage=usage,
            timings_ms=timings,
            answer_id=uuid.uuid4().hex,
            prompt_hash=plan.prompt_hash,
        )

    def _usage(self, model: str, messages: Messages, text: str, counts: tuple[int | None, int | None]) -> Usage:
        prompt_tokens, completion_tokens = counts
        estimated = prompt_tokens is None or completion_tokens is None
        if estimated:
            prompt_tokens = estimate_tokens(messages.system + "\n" + messages.user)
            completion_tokens = estimate_tokens(text)
        assert prompt_tokens is not None and completion_tokens is not None
        cost = price(self.settings.prices, model, prompt_tokens, completion_tokens)
        return Usage(prompt_tokens, completion_tokens, cost, estimated)


def _passage(source: Source) -> Passage:
    chunk = source.hit.chunk
    return Passage(source.n, display_name(chunk.title, chunk.source), chunk.text)


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(
        a.prompt_tokens + b.prompt_tokens,
        a.completion_tokens + b.completion_tokens,
        a.cost_usd + b.cost_usd,
        a.estimated or b.estimated,
    )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 3)
