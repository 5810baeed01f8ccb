"""Check every answer sentence against the passages it cites.

For each sentence: citations to sources that do not exist are dropped; the cited passages that support it
(score ≥ ``min_support``) are kept. When none of its citations supports it (or it cites nothing), every
retrieved passage is checked and the best one is attached if it supports the sentence. Otherwise the
sentence is unsupported. Each kept citation remembers which passage sentence supports the claim, so the
quote can be that sentence instead of the whole chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from citewise.types import AnswerSentence, Hit
from generation.support import Scorer, SupportMatch
from generation.text import Span, invented_names, sentence_spans, split_answer, strip_markers

INVENTED_NAME_PENALTY = 0.5  # a name no retrieved passage writes: the claim adds an entity (support halved)


@dataclass(frozen=True)
class Source:
    """A retrieved chunk numbered as shown to the model; ``spans`` are its sentences (chunk-local offsets)."""

    n: int
    hit: Hit
    spans: tuple[Span, ...]

    @classmethod
    def from_hit(cls, n: int, hit: Hit) -> Source:
        return cls(n, hit, tuple(sentence_spans(hit.chunk.text)))

    @property
    def text(self) -> str:
        return self.hit.chunk.text


@dataclass(frozen=True)
class Verified:
    sentences: tuple[AnswerSentence, ...]
    evidence: dict[int, tuple[Span, ...]] = field(default_factory=dict)  # source n → supporting sentences
    dropped: tuple[int, ...] = ()  # cited numbers that match no source

    @property
    def any_supported(self) -> bool:
        return any(s.supported for s in self.sentences)


def verify(answer: str, sources: list[Source], scorer: Scorer, min_support: float) -> Verified:
    by_n = {s.n: s for s in sources}
    sentences: list[AnswerSentence] = []
    evidence: dict[int, list[Span]] = {}
    dropped: list[int] = []
    retrieved = " ".join(s.text for s in sources)
    for raw, cited in split_answer(answer):
        claim = strip_markers(raw)
        if not claim:
            continue
        dropped.extend(n for n in cited if n not in by_n)
        valid = [n for n in cited if n in by_n]
        # names are checked against every retrieved passage: "The Normans … [2]" may name what [2] calls "They"
        factor = INVENTED_NAME_PENALTY if invented_names(claim, retrieved) else 1.0

        def support(source: Source, claim: str = claim, factor: float = factor) -> SupportMatch:
            match = scorer.support(claim, source.text, source.spans)
            return match if factor == 1.0 else SupportMatch(round(match.score * factor, 4), match.span)

        matches = {n: support(by_n[n]) for n in valid}
        chosen = {n: m for n, m in matches.items() if m.score >= min_support}
        if not chosen:
            others = {s.n: support(s) for s in sources if s.n not in matches}
            best = _best({**matches, **others})
            if best is not None and best[1].score >= min_support:
                chosen = dict([best])
        supported = bool(chosen)
        keep = chosen if supported else matches
        for n, match in keep.items():
            evidence.setdefault(n, []).append(match.span)
        score = max((m.score for m in (chosen or matches).values()), default=0.0)
        sentences.append(AnswerSentence(claim, supported, tuple(sorted(keep)), round(score, 4)))
    spans = {n: tuple(sorted(set(v), key=lambda s: s.start)) for n, v in evidence.items()}
    return Verified(tuple(sentences), spans, tuple(dict.fromkeys(dropped)))


def _best(matches: dict[int, SupportMatch]) -> tuple[int, SupportMatch] | None:
    if not matches:
        return None
    return max(sorted(matches.items()), key=lambda item: item[1].score)


def render_answer(sentences: tuple[AnswerSentence, ...]) -> str:
    """The answer text: each sentence followed by its citation markers."""
    parts = []
    for s in sentences:
        markers = "".join(f"[{n}]" for n in s.citations)
        parts.append(f"{s.text} {markers}" if markers else s.text)
    return " ".join(parts)
