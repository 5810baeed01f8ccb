"""Plain-text helpers: sentence spans, content terms, citation markers. Deterministic, no models."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from nltk.stem.porter import PorterStemmer

# A sentence ends at . ! ? (optionally followed by quotes/brackets) before whitespace and an uppercase
# letter, digit, quote or bracket; or at a blank line.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n\s*\n")
_ABBREV = re.compile(
    r"(?:\b(?:[A-Z]|Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|vs|etc|e\.g|i\.e|cf|Fig|No|Vol|al|approx|Inc|Ltd|Co|U\.S|U\.K)\.)$"
)
MARKER = re.compile(r"\[(\d{1,4})\]")
# markers a source text carries itself (Wikipedia footnotes, "[citation needed]"): never an answer's citations
SOURCE_MARKER = re.compile(r"\[(\d{1,4}|citation needed|note \d{1,3}|[a-z]|nb \d{1,3})\]", re.IGNORECASE)
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d{1,4}\])+")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

_STOPWORDS = """
a an and are as at be been being but by can could did do does for from had has have he her his how i if in into
is it its of on or our she so than that the their them then there these they this those to was we were what when
where which while who whom whose why will with would you your not no yes also any all some such about after
before between during over under more most other only own same very just may might must shall should s t d ll re
ve m one
"""
STOPWORDS = frozenset(_STOPWORDS.split())
_PORTER = PorterStemmer()


@dataclass(frozen=True)
class Span:
    """A sentence as ``text[start:end]`` of the text it was split from (whitespace trimmed)."""

    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[Span]:
    """Split ``text`` into sentences with exact character offsets."""
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start : match.start()].rstrip()
        if candidate and _ABBREV.search(candidate) and "\n" not in match.group(0):
            continue  # "Dr. Smith", "e.g. this": not a sentence end
        _add(spans, text, start, match.start())
        start = match.end()
    _add(spans, text, start, len(text))
    return spans


def _add(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right > left:
        spans.append(Span(start + left, start + right, text[start + left : start + right]))


def split_answer(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    """Answer text → [(sentence, cited numbers)]; markers right after a sentence end belong to that sentence."""
    raw = [s.text for s in sentence_spans(answer)]
    merged: list[str] = []
    for sentence in raw:
        lead = _LEADING_MARKERS.match(sentence)
        if lead and merged:
            merged[-1] = merged[-1] + " " + lead.group(0).strip()
            sentence = sentence[lead.end() :].strip()
        if sentence:
            merged.append(sentence)
    return [(s, tuple(dict.fromkeys(int(n) for n in MARKER.findall(s)))) for s in merged]


def strip_markers(text: str) -> str:
    """The sentence without its ``[n]`` markers (for scoring)."""
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", MARKER.sub(" ", text))).strip()


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """Porter stem (nltk's, pure Python, no data files): 'cities' → 'citi', 'named' → 'name'."""
    return _PORTER.stem(word)


def terms(text: str) -> list[str]:
    """Lowercased, stemmed content words (stopwords dropped)."""
    out = []
    for raw in _WORD.findall(text.lower()):
        word = raw.replace("’", "'").split("'")[0]
        if word and word not in STOPWORDS:
            out.append(stem(word))
    return out


def numbers(text: str) -> set[str]:
    """Numbers written in ``text`` (thousand separators removed), for the invented-number check."""
    return {n.replace(",", "") for n in _NUMBER.findall(MARKER.sub(" ", text))}


def coverage(needle: str, haystack: str) -> float:
    """Share of ``needle``'s distinct content terms that occur in ``haystack`` (1.0 when it has none)."""
    wanted = set(terms(needle))
    if not wanted:
        return 1.0
    return len(wanted & set(terms(haystack))) / len(wanted)
