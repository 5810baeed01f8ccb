"""The offline answerer: quote the retrieved sentences that best answer the question, each with its citation.

Deterministic: sentences are ranked by relevance (ties: lower source number, earlier position), the best is
always taken, and up to ``max_sentences - 1`` more whose relevance is within ``keep_ratio`` of the best.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from generation.support import Scorer
from generation.text import MARKER, Span
from generation.verify import Source

VERSION = 1
KEEP_RATIO = 0.85


@dataclass(frozen=True)
class Ranked:
    score: float
    source: int
    span: Span


def rank_sentences(question: str, sources: list[Source], scorer: Scorer) -> list[Ranked]:
    """Every sentence of every source, most relevant first."""
    items = [(s, span) for s in sources for span in s.spans]
    if not items:
        return []
    scores = scorer.relevance(question, [span.text for _, span in items])
    ranked = [Ranked(round(score, 6), s.n, span) for (s, span), score in zip(items, scores, strict=True)]
    return sorted(ranked, key=lambda r: (-r.score, r.source, r.span.start))


def extract(ranked: list[Ranked], max_sentences: int) -> str:
    """The answer text: chosen sentences, each followed by ``[n]``."""
    if not ranked:
        return ""
    chosen: list[Ranked] = []
    seen: set[str] = set()
    for r in ranked:
        if len(chosen) >= max_sentences or (chosen and r.score < KEEP_RATIO * chosen[0].score):
            break
        key = " ".join(r.span.text.split()).lower()
        if key not in seen:
            seen.add(key)
            chosen.append(r)
    # "[12]" inside a quoted sentence (a paper's reference) would read as a citation marker
    return " ".join(f"{MARKER.sub(_parenthesize, r.span.text)} [{r.source}]" for r in chosen)


def _parenthesize(match: re.Match[str]) -> str:
    return f"({match.group(1)})"


def procedure_ref(max_sentences: int) -> tuple[str, str]:
    """``("extractive@1", sha256)``: what an extractive answer records in place of a prompt template."""
    spec = f"extractive@{VERSION};keep_ratio={KEEP_RATIO};max_sentences={max_sentences}"
    return f"extractive@{VERSION}", hashlib.sha256(spec.encode()).hexdigest()
