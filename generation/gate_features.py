"""Question–sentence evidence features for the evidence gate (deterministic; the cosine needs the encoder).

One row per sentence of every retrieved passage. Each feature says something a sentence that answers the
question has: the question's content words (IDF-weighted over the candidates, BM25-style, in order as bigrams),
the kind of thing the question asks for ("when" → a date, "how many" → a number, "who" → a name the question
does not already hold), words beyond the question's own, the question's names and numbers present in its
passage, and whether the sentence is whole (not cut at a chunk edge). All values lie in 0..1.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from generation.support import Scorer
from generation.text import Span, scoring_language, terms
from generation.verify import Source

FEATURES: tuple[str, ...] = (
    "idf_coverage",
    "coverage",
    "bm25",
    "bigrams",
    "passage_coverage",
    "cosine",
    "type_match",
    "new_words",
    "names_in_passage",
    "terms_anywhere",
    "position",
    "source_rank",
    "length",
    "whole",
    "missing_in_passage",
    "rare_missing",
    "negation_mismatch",
    "names_in_sentence",
)

_NUMBER_Q = re.compile(
    r"\bhow (many|much|long|old|far|large|big|often|tall|high|fast|heavy|wide|deep)\b"
    r"|\bwhat (percentage|percent|number|amount|proportion|fraction)\b"
)
_DATE_Q = re.compile(r"\bwhen\b|\b(what|which) (year|date|century|decade|month|day|period|time)\b|\bsince when\b")
_PERSON_Q = re.compile(r"\bwho\b|\bwhom\b|\bwhose\b")
_PLACE_Q = re.compile(r"\bwhere\b|\b(what|which) (country|city|state|place|region|town|continent)\b")
_NUM = re.compile(r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                  r"forty|fifty|hundred|thousand|million|billion|dozen|half|several)\b", re.I)  # fmt: skip
_DATE = re.compile(
    r"\b(1\d{3}|20\d{2})s?\b|\b\d{1,2}(st|nd|rd|th)? century\b|\b(January|February|March|April|May|June|July|"
    r"August|September|October|November|December)\b|\b(BC|AD|BCE|CE)\b"
)
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z\-]+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
WRAPPED_LINE = 60  # a line this long that does not end a sentence continues on the next one
SHORT_LINE = 45  # a block whose lines average fewer characters is a list or an infobox, not wrapped prose
_NEGATION = re.compile(r"\b(not|never|no|n't|nor|without|none|neither|non|cannot)\b", re.IGNORECASE)
# a sentence's end in any script: . ! ? and the full stops of scripts that have their own (。！？ ؟ ۔ । ॥)
_END = re.compile(r"[.!?。！？؟۔।॥][\"'”’)\]」』）]*$")


@dataclass(frozen=True)
class Candidate:
    """A sentence (or a line of a table or list block) of a retrieved passage, with its features."""

    source: int
    span: Span
    whole: bool
    features: np.ndarray
    block: Span  # the passage sentence it comes from (itself, unless a block was split into lines)


def lines_of(span: Span) -> list[Span]:
    """The non-blank lines of ``span`` as spans (offsets in the same text as ``span``)."""
    out = []
    for m in re.finditer(r"[^\n]+", span.text):
        body = m.group(0).strip()
        if body:
            start = span.start + m.start() + len(m.group(0)) - len(m.group(0).lstrip())
            out.append(Span(start, start + len(body), body))
    return out


def is_table(lines: Sequence[Span]) -> bool:
    """3+ lines, nearly all with cells (loaders render table rows as cells joined by " | ", or tabs)."""
    return len(lines) >= 3 and sum("|" in s.text or "\t" in s.text for s in lines) >= 0.8 * len(lines)


def pieces(span: Span) -> list[Span]:
    """A table, or a block of short lines (an infobox, a list), split into its lines; other sentences whole."""
    lines = lines_of(span)
    if len(lines) < 3:
        return [span]
    if is_table(lines):
        return lines
    if sum(len(s.text) for s in lines) / len(lines) >= SHORT_LINE:
        return [span]
    merged: list[Span] = []  # wrapped prose inside the block stays one piece
    for line in lines:
        last = merged[-1] if merged else None
        if last is not None and len(last.text.splitlines()[-1]) >= WRAPPED_LINE and not _END.search(last.text):
            merged[-1] = Span(last.start, line.end, span.text[last.start - span.start : line.end - span.start])
        else:
            merged.append(line)
    return merged


def question_type(question: str) -> str:
    """``number``, ``date``, ``person``, ``place`` or ``other``: what kind of thing the question asks for."""
    q = question.lower()
    if _NUMBER_Q.search(q):
        return "number"
    if _DATE_Q.search(q):
        return "date"
    if _PERSON_Q.search(q):
        return "person"
    if _PLACE_Q.search(q):
        return "place"
    return "other"


def type_match(kind: str, sentence: str, question: str, lang: str | None = None) -> float:
    """1.0 when ``sentence`` holds the kind of thing the question asks for, beyond what the question says."""
    asked = question.lower()
    if kind == "number":
        return float(any(m.group(0).lower() not in asked for m in _NUM.finditer(sentence)))
    if kind == "date":
        return float(any(m.group(0).lower() not in asked for m in _DATE.finditer(sentence)))
    if kind in ("person", "place"):
        known = {w.lower() for w in _WORD.findall(question)}
        return float(any(m.group(0).lower() not in known for m in _CAPITAL.finditer(sentence)))
    return float(len(set(terms(sentence, lang)) - set(terms(question, lang))) >= 2)


def names(question: str) -> set[str]:
    """The question's names and numbers (capitalised words after the first, digits), lowercased."""
    found = {m.group(0).lower() for m in _CAPITAL.finditer(question.strip())}
    return found | {m.group(0) for m in re.finditer(r"\b\d[\d,.]*\b", question)}


def is_whole(source: Source, i: int) -> bool:
    """False for a sentence cut at a chunk edge: a first one starting mid-sentence, a last one never ending."""
    span = source.spans[i]
    chunk = source.hit.chunk
    if i == 0 and chunk.char_start > 0 and span.text[:1].islower():
        return False
    return not (i == len(source.spans) - 1 and len(span.text.split()) >= 4 and not _END.search(span.text))


def candidates(question: str, sources: Sequence[Source], scorer: Scorer) -> list[Candidate]:
    """Every sentence of every source with its feature row (``FEATURES`` order)."""
    items = [(s, i, piece) for s in sources for i in range(len(s.spans)) for piece in pieces(s.spans[i])]
    if not items:
        return []
    texts = [piece.text for _, _, piece in items]
    sims = scorer.cosines(question, texts)
    lang = scoring_language(question, [s.text for s in sources])
    bags = [terms(t, lang) for t in texts]
    sets = [set(b) for b in bags]
    wanted = list(dict.fromkeys(terms(question, lang)))
    df = {t: sum(t in s for s in sets) for t in wanted}
    idf = {t: math.log(1.0 + len(sets) / (1.0 + df[t])) for t in wanted}
    total_idf = sum(idf.values()) or 1.0
    avg_len = sum(len(b) for b in bags) / len(bags) or 1.0
    q_bigrams = set(itertools.pairwise(wanted))
    passage_terms = {s.n: set(terms(s.text, lang)) for s in sources}
    passage_lower = {s.n: s.text.lower() for s in sources}
    anywhere = set().union(*passage_terms.values())
    terms_anywhere = sum(t in anywhere for t in wanted) / len(wanted) if wanted else 1.0
    q_names = names(question)
    kind = question_type(question)
    ranks = {s.n: r for r, s in enumerate(sources, 1)}
    top_idf = math.log(1.0 + len(sets)) or 1.0
    missing = {n: [t for t in wanted if t not in got] for n, got in passage_terms.items()}
    q_negated = bool(_NEGATION.search(question))
    out = []
    for (source, i, piece), text, bag, bag_set, sim in zip(items, texts, bags, sets, sims, strict=True):
        whole = piece != source.spans[i] or is_whole(source, i)
        found = [t for t in wanted if t in bag_set]
        bm25 = sum(idf[t] * _tf(bag.count(t), len(bag), avg_len) for t in found) / total_idf
        pairs = set(itertools.pairwise(bag))
        in_passage = passage_lower[source.n]
        row = (
            sum(idf[t] for t in found) / total_idf if wanted else 0.0,
            len(found) / len(wanted) if wanted else 0.0,
            bm25,
            len(q_bigrams & pairs) / len(q_bigrams) if q_bigrams else 0.0,
            len(passage_terms[source.n] & set(wanted)) / len(wanted) if wanted else 0.0,
            sim,
            type_match(kind, text, question, lang),
            min(1.0, len(bag_set - set(wanted)) / 6.0),
            sum(n in in_passage for n in q_names) / len(q_names) if q_names else 1.0,
            terms_anywhere,
            i / max(1, len(source.spans) - 1),  # the line's block's position
            1.0 / ranks[source.n],
            min(1.0, math.log1p(len(bag)) / math.log(40.0)),
            float(whole),
            min(1.0, len(missing[source.n]) / 3.0),
            max((idf[t] for t in missing[source.n]), default=0.0) / top_idf,
            float(q_negated != bool(_NEGATION.search(text))),
            sum(n in text.lower() for n in q_names) / len(q_names) if q_names else 1.0,
        )
        out.append(Candidate(source.n, piece, whole, np.asarray(row, dtype=np.float64), source.spans[i]))
    return out


def _tf(count: int, length: int, avg_len: float, k1: float = 1.2, b: float = 0.75) -> float:
    """BM25's saturated term frequency, scaled to 0..1."""
    return count * (k1 + 1) / (count + k1 * (1 - b + b * length / avg_len)) / (k1 + 1)
