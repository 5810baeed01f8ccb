"""Scores: how relevant a sentence is to a question, and how well a passage supports an answer sentence.

Both mix a lexical part (share of content terms found) with a semantic part (cosine of MiniLM vectors,
when an encoder is given). Numbers in an answer sentence that the passage lacks halve its support:
invented figures are the commonest thing a small model makes up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citewise.cache import LruCache
from citewise.encoders import DenseEncoderProtocol
from citewise.language import UNDETERMINED
from generation.text import (
    Span,
    char_grams,
    coverage,
    numbers,
    scoring_language,
    sentence_spans,
    strip_markers,
    terms,
)

LEXICAL_WEIGHT = 0.6
QUESTION_LEXICAL_WEIGHT = 0.8
GRAM_LEXICAL_WEIGHT = 0.5  # in a language the encoder does not know: terms vs character n-grams


@dataclass(frozen=True)
class SupportMatch:
    """The best support one passage gives a sentence: score and the passage sentence that gives it."""

    score: float
    span: Span


class Scorer:
    """Support and relevance scores; caches sentence vectors (bounded, thread-safe).

    ``languages`` are those the encoder understands (``citewise.encoders.encoder_languages``; ``"*"``: any): a
    question in another language is scored on its terms alone, as retrieval leaves such a query to BM25.
    """

    def __init__(
        self,
        encoder: DenseEncoderProtocol | None = None,
        cache_size: int = 20_000,
        languages: Sequence[str] = ("*",),
    ) -> None:
        self.encoder = encoder
        self.languages = tuple(languages)
        self._cache: LruCache[str, np.ndarray] = LruCache(cache_size)

    def vectors(self, texts: Sequence[str]) -> np.ndarray | None:
        if self.encoder is None or not texts:
            return None
        known = self._cache.get_many(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = dict(zip(missing, self.encoder.encode(missing), strict=True))
            known.update(fresh)
            self._cache.put_many(fresh)
        return np.stack([known[t] for t in texts])

    def cosines(self, text: str, others: Sequence[str]) -> list[float]:
        """Cosine of ``text`` with each of ``others`` (0.0 each without an encoder)."""
        vecs = self.vectors([text, *others])
        if vecs is None:
            return [0.0] * len(others)
        return [max(0.0, float(v)) for v in vecs[1:] @ vecs[0]]

    def understands(self, lang: str) -> bool:
        """Whether the encoder's vectors mean something for text in ``lang`` (undetermined: assumed so)."""
        return "*" in self.languages or lang == UNDETERMINED or lang in self.languages

    def _mix(self, lexical: float, semantic: float, weight: float, lang: str = UNDETERMINED) -> float:
        if self.encoder is None or not self.understands(lang):
            return lexical
        return weight * lexical + (1.0 - weight) * semantic

    def relevance(self, question: str, sentences: Sequence[str], lang: str | None = None) -> list[float]:
        """How well each sentence answers ``question``, 0..1: IDF-weighted share of the question's terms in it
        (IDF over these candidate sentences, so a term every sentence shares counts little), mixed with cosine.
        Terms are analysed in ``lang`` (default: ``scoring_language`` of the question and sentences). In a
        language the encoder does not understand, the IDF-weighted share of the question's character n-grams
        takes the cosine's place."""
        lang = lang or scoring_language(question, sentences)
        lexical = _weighted_share([set(terms(s, lang)) for s in sentences], set(terms(question, lang)))
        if self.understands(lang):
            sims = self.cosines(question, sentences)
            return [self._mix(x, sim, QUESTION_LEXICAL_WEIGHT, lang) for x, sim in zip(lexical, sims, strict=True)]
        grams = _weighted_share([char_grams(s, lang) for s in sentences], char_grams(question, lang))
        w = GRAM_LEXICAL_WEIGHT
        return [max(x, w * x + (1.0 - w) * g) for x, g in zip(lexical, grams, strict=True)]

    def support(self, sentence: str, passage: str, spans: Sequence[Span] | None = None) -> SupportMatch:
        """How well ``passage`` supports the answer ``sentence``; the best passage sentence as evidence."""
        claim = strip_markers(sentence)
        spans = list(spans) if spans is not None else sentence_spans(passage)
        if not spans:
            return SupportMatch(0.0, Span(0, 0, ""))
        lang = scoring_language(claim, [passage])
        semantic = self.understands(lang)
        sims = self.cosines(claim, [s.text for s in spans]) if semantic else [0.0] * len(spans)
        whole = coverage(claim, passage, lang)
        scored = []
        for span, sim in zip(spans, sims, strict=True):
            local = coverage(claim, span.text, lang)
            scored.append((self._mix(max(local, 0.8 * whole), sim, LEXICAL_WEIGHT, lang), local, span))
        best, _, span = max(scored, key=lambda item: (item[0], item[1]))
        invented = numbers(claim) - numbers(passage)
        return SupportMatch(round(best * (0.5 if invented else 1.0), 4), span)


def _weighted_share(bags: Sequence[set[str]], wanted: set[str]) -> list[float]:
    """For each bag: the share of ``wanted``, each item weighted by its IDF over the bags."""
    df: dict[str, int] = {}
    for bag in bags:
        for item in bag & wanted:
            df[item] = df.get(item, 0) + 1
    weights = {t: math.log(1.0 + len(bags) / (1.0 + df.get(t, 0))) for t in wanted}
    total = sum(weights.values())
    return [sum(w for t, w in weights.items() if t in bag) / total if total else 0.0 for bag in bags]
