"""The one sentence splitter: sentences of any text as exact ``[start, end)`` character spans.

Chunking (``ingest.chunking``) cuts long elements at these sentences; answers (``generation.text``) are split,
scored and quoted by them. A sentence ends at . ! ? (optionally followed by quotes/brackets) before whitespace and
an uppercase letter (Latin, Greek, Cyrillic), a letter of a script without case (Arabic, Hebrew, Devanagari,
Thai, Han, kana, Hangul), a digit, quote or bracket; at a full stop of a script that has its own (。！？ with or
without a space after, Arabic ؟ ۔, Devanagari । ॥); or at a blank line. A full stop after an abbreviation or an
initial ("Dr.", "e.g.", "J.", "Й.") ends no sentence. Deterministic, no models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_START = (
    "A-Z0-9\u00c0-\u00de\u0391-\u03a9\u0400-\u042f\u0590-\u08ff\u0900-\u0dff\u0e00-\u0e7f"
    "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
)
_BOUNDARY = re.compile(
    rf"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[«]?[{_SENTENCE_START}])"
    r"|(?<=[。！？])[」』”’）)]*\s*(?=\S)"
    r"|(?<=[؟۔।॥])\s+"
    r"|\n\s*\n"
)
_ABBREV = re.compile(
    r"(?:\b(?:[A-Z\u0391-\u03a9\u0401\u0410-\u042f]|Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|vs|etc|e\.g|i\.e|cf|Fig|No|Vol|al|approx|Inc|Ltd|Co|U\.S|U\.K)\.)$"
)
_LINE_BREAKS = re.compile(r"\n")


@dataclass(frozen=True)
class Span:
    """A sentence (or line) as ``text[start:end]`` of the text it was split from (whitespace trimmed)."""

    start: int
    end: int
    text: str


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """The sentences of ``text[start:end]`` (default: all of it), offsets into ``text``."""
    end = len(text) if end is None else end
    part = text[start:end]
    spans: list[Span] = []
    pos = 0
    for match in _BOUNDARY.finditer(part):
        candidate = part[pos : match.start()].rstrip()
        if candidate and _ABBREV.search(candidate) and "\n" not in match.group(0):
            continue  # "Dr. Smith", "e.g. this": not a sentence end
        _add(spans, text, start + pos, start + match.start())
        pos = match.end()
    _add(spans, text, start + pos, end)
    return spans


def line_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """The non-blank lines of ``text[start:end]`` (table rows), offsets into ``text``."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    pos = start
    for match in _LINE_BREAKS.finditer(text, start, end):
        _add(spans, text, pos, match.start())
        pos = match.end()
    _add(spans, text, pos, end)
    return spans


def _add(spans: list[Span], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right > left:
        spans.append(Span(start + left, start + right, text[start + left : start + right]))
