"""Our own answer metrics, computed from an ``Answer`` and the stored document texts (no model needed).

- citation_precision: share of (sentence, citation) pairs whose quote supports the sentence. Support is
  lexical: at least ``SUPPORT_MIN`` of the sentence's content words (lower-cased, stop words dropped) occur
  in the quote. No NLI model can be had offline; the judge-based RAGAS faithfulness is the semantic check.
- exact_quote: share of citations whose quote is exactly ``document_text[char_start:char_end]``.
- abstention_accuracy: share of unanswerable questions the answerer declined; answered: share of
  answerable ones it did answer (every metric here is "higher is better", so one gate fits all).
- containment / token_f1: a reference answer occurs in the answer (SQuAD normalization) / best token F1.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from citewise.types import Answer
from evals.qa import QAItem

SUPPORT_MIN = 0.5
_WORD = re.compile(r"\w+", re.UNICODE)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_STOP_WORDS = """a an the and or but if of to in on at by for with from as is are was were be been being it its this
that these those there their they them he she his her we our you your i not no do does did has have had which who
whom what when where why how than then so such into onto over under about also can could would should may might"""
STOP = frozenset(_STOP_WORDS.split())

TextOf = Callable[[str], str | None]  # doc id -> its stored text, None when unknown


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, reference: str) -> bool:
    ref = normalize(reference)
    return bool(ref) and f" {ref} " in f" {normalize(prediction)} "


def content_words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in STOP]


def support(sentence: str, quote: str) -> float:
    """Share of the sentence's content words found in the quote (1.0 for a sentence without any)."""
    words = content_words(sentence)
    if not words:
        return 1.0
    quoted = set(content_words(quote))
    return sum(w in quoted for w in words) / len(words)


@dataclass(frozen=True)
class QuestionScores:
    """The metrics of one question; a metric that does not apply to it is absent."""

    scores: dict[str, float] = field(default_factory=dict)
    citation_checks: list[dict[str, object]] = field(default_factory=list)


def score_answer(item: QAItem, answer: Answer, text_of: TextOf) -> QuestionScores:
    scores: dict[str, float] = {}
    by_n = {c.n: c for c in answer.citations}
    pairs = []
    for sentence in answer.sentences:
        if not sentence.shown:  # removed from the answer: not a claim the answer makes
            continue
        for n in sentence.citations:
            cited = by_n.get(n)
            pairs.append(cited is not None and support(sentence.text, cited.quote) >= SUPPORT_MIN)
    if pairs:
        scores["citation_precision"] = sum(pairs) / len(pairs)
    checks: list[dict[str, object]] = []
    for c in answer.citations:
        text = text_of(c.doc_id)
        exact = text is not None and text[c.char_start : c.char_end] == c.quote and bool(c.quote)
        best = max((support(s.text, c.quote) for s in answer.sentences if s.shown and c.n in s.citations), default=None)
        checks.append({"n": c.n, "exact": exact, "supports": None if best is None else best >= SUPPORT_MIN})
    if checks:
        scores["exact_quote"] = sum(bool(ch["exact"]) for ch in checks) / len(checks)
    if item.answerable:
        scores["answered"] = float(not answer.abstained)
        if item.references and not answer.abstained:
            scores["containment"] = float(any(contains(answer.answer, r) for r in item.references))
            scores["token_f1"] = max(token_f1(answer.answer, r) for r in item.references)
        elif item.references:
            scores["containment"] = scores["token_f1"] = 0.0
    else:
        scores["abstention_accuracy"] = float(answer.abstained)
    return QuestionScores(scores, checks)


def mean_scores(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over the questions it applies to."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            sums.setdefault(key, []).append(value)
    return {k: round(sum(v) / len(v), 6) for k, v in sorted(sums.items())}
