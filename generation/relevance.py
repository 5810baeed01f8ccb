"""Does an answer sentence address the question? A supported sentence about something else is not an answer.

A sentence's relevance is the larger of its own relevance to the question and that of the passage sentence
that supports it (a short answer such as "It was built in 1903." names little of the question; the passage
sentence it comes from does). Scores come from ``Scorer.relevance`` computed over the retrieved sentences
plus the answer's, so they sit on the same scale as the evidence gate (``GenerationSettings.min_evidence``).

A sentence counts as relevant when its score reaches ``min_relevance`` times the evidence (the best retrieved
sentence's relevance): relative, because a question whose best passage sentence scores 0.5 cannot expect
its answer sentences to score 0.8. A stronger question–sentence model can replace ``relevance_scores``.
"""

from __future__ import annotations

from collections.abc import Sequence

from generation.support import Scorer
from generation.verify import Source


def relevance_scores(
    question: str, claims: Sequence[str], evidence: Sequence[str | None], sources: Sequence[Source], scorer: Scorer
) -> list[float]:
    """For each claim: max(relevance of the claim, relevance of the passage sentence that supports it)."""
    if not claims:
        return []
    pool = [span.text for s in sources for span in s.spans]
    extra = list(claims) + [e for e in evidence if e]
    scores = scorer.relevance(question, pool + extra)
    by_text = dict(zip(pool + extra, scores, strict=True))
    out = []
    for claim, support in zip(claims, evidence, strict=True):
        own = by_text[claim]
        out.append(round(max(own, by_text[support]) if support else own, 4))
    return out


def is_relevant(score: float, evidence: float, min_relevance: float) -> bool:
    return score >= min_relevance * evidence
