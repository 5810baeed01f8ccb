"""The offline answerer: quote the retrieved sentences that best answer the question, each with its citation.

Deterministic: sentences are ranked by the evidence gate (ties: lower source number, earlier position). ``focus``
takes the best whole sentence (never one cut at a chunk edge) and up to ``max_sentences - 1`` more from the
**same passage** whose score is within ``KEEP_RATIO`` of the best, so an answer never joins fragments across chunk
boundaries or quotes a passage it does not cite. A table is capped to its header and the rows that match the
question. Each answer sentence is the passage's own text, byte for byte; its support is the gate's
question–sentence score, not the sentence checked against itself (which always passes).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from citewise.types import AnswerSentence
from generation.gate import ScoredSentence
from generation.gate_features import is_table, lines_of
from generation.text import SOURCE_MARKER, Span, terms
from generation.verify import Verified

VERSION = 2
KEEP_RATIO = 0.7  # chosen on SQuAD 2.0 dev articles 4-5: gold containment 0.893 at 0.85, 0.914 from 0.7 down
TABLE_ROWS = 3  # most body rows a table answer quotes (besides its header)


@dataclass(frozen=True)
class Ranked:
    score: float
    source: int
    span: Span


def focus(scored: list[ScoredSentence], question: str, max_sentences: int) -> Verified:
    """The extractive answer as verified sentences, all from the best whole sentence's passage."""
    whole = [s for s in scored if s.candidate.whole] or scored
    if not whole:
        return Verified(())
    best = whole[0]
    chosen = [best]
    seen = {_key(best.candidate.span.text)}
    for s in whole[1:]:
        if len(chosen) >= max_sentences or s.score < KEEP_RATIO * best.score:
            break
        if s.source == best.source and _key(s.candidate.span.text) not in seen:
            seen.add(_key(s.candidate.span.text))
            chosen.append(s)
    chosen.sort(key=lambda s: s.candidate.span.start)  # in the passage's order
    rows = table_rows(best.candidate.block, question)
    # a table: its header and the matching rows, nothing else
    picked = [(best.score, row) for row in rows] if rows else [(s.score, s.candidate.span) for s in chosen]
    sentences = tuple(
        AnswerSentence(SOURCE_MARKER.sub(_parenthesize, span.text), True, (best.source,), round(score, 4))
        for score, span in picked
    )
    return Verified(sentences, {best.source: tuple(span for _, span in picked)})


def table_rows(block: Span, question: str) -> list[Span]:
    """A table's header and the rows sharing the most question terms (at most ``TABLE_ROWS``); [] for anything else."""
    lines = lines_of(block)
    if not is_table(lines):
        return []
    wanted = set(terms(question))
    overlap = [(len(wanted & set(terms(row.text))), i) for i, row in enumerate(lines[1:], 1)]
    best = max(n for n, _ in overlap)
    if best == 0:
        return []
    keep = sorted(i for n, i in sorted(overlap, key=lambda x: (-x[0], x[1]))[:TABLE_ROWS] if n == best)
    return [lines[i] for i in [0, *keep]]


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


def _parenthesize(match: re.Match[str]) -> str:
    """A source's own "[12]" or "[citation needed]" would read as an answer's citation marker: show "(12)"."""
    return f"({match.group(1)})"


def procedure_ref(max_sentences: int) -> tuple[str, str]:
    """``("extractive@1", sha256)``: what an extractive answer records in place of a prompt template."""
    spec = f"extractive@{VERSION};keep_ratio={KEEP_RATIO};max_sentences={max_sentences};table_rows={TABLE_ROWS}"
    return f"extractive@{VERSION}", hashlib.sha256(spec.encode()).hexdigest()
