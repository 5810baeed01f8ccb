"""Structure-aware chunking bounded by the dense encoder's own tokenizer.

Elements are cut into pieces that fit (whole element; a table by rows; prose by sentences, then words),
and pieces are packed into chunks of at most ``chunk_tokens`` word pieces (never above the model's
``max_seq_length``, so the encoder truncates nothing). A heading starts a new chunk; within a section
consecutive chunks overlap by up to ``overlap`` tokens of whole pieces. Each chunk is one contiguous span
``[char_start, char_end)`` of the document text.

Each chunk also carries its ``context``: the lines that say what it is part of and that its own text does not
contain, its section headings or, in a document without headings, the document's lead line (a first paragraph
of one short line: a title). BM25 reads them before the chunk's text (``citewise.types.Chunk.sparse_text``),
so the later chunks of an abstract still match the words of its title; the dense encoder and the stored span
(what quotes and citations use) are the chunk's own text, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from citewise.errors import ConfigError
from citewise.sentences import line_spans, sentence_spans
from ingest.loaders import Element, ParsedDocument

# 2: long prose is cut at lines, then sentences (citewise.sentences: any script), then ; and :
# 3: each chunk carries its context (headings or the document's lead line) for BM25
CHUNKER_VERSION = "3"
MAX_LEAD_CHARS = 300  # a first paragraph of one line at most this long is the document's lead line (a title)
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk before encoding: a span of the document text and what it came from."""

    char_start: int
    char_end: int
    heading_path: tuple[str, ...]
    page_start: int | None
    page_end: int | None
    element_types: tuple[str, ...]
    tokens: int
    ocr: bool = False  # some of its text was recognised by OCR
    context: tuple[str, ...] = ()  # headings or the lead line that BM25 reads before the chunk (not in its text)


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    tokens: int
    element: Element
    first_of_element: bool


class Chunker:
    """Cut a ``ParsedDocument`` into token-bounded ``ChunkSpan``s."""

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        max_seq_length: int,
        chunk_tokens: int = 200,
        overlap: int = 32,
    ) -> None:
        if chunk_tokens > max_seq_length:
            raise ConfigError(
                f"CITEWISE_INGEST__CHUNK_TOKENS={chunk_tokens} is above the encoder's max_seq_length "
                f"{max_seq_length}: chunks would be truncated; set it to {max_seq_length} or less"
            )
        if overlap >= chunk_tokens:
            raise ConfigError(
                f"CITEWISE_INGEST__CHUNK_OVERLAP={overlap} must be smaller than CITEWISE_INGEST__CHUNK_TOKENS="
                f"{chunk_tokens}"
            )
        self._count = count_tokens
        self.special = count_tokens("")
        self.limit = chunk_tokens
        self.overlap = overlap
        self.version = f"chunker-{CHUNKER_VERSION}:{chunk_tokens}/{overlap}"

    def tokens(self, text: str) -> int:
        """Word pieces of ``text`` without the special tokens."""
        return self._count(text) - self.special

    def chunk(self, doc: ParsedDocument) -> list[ChunkSpan]:
        budget = self.limit - self.special
        pieces: list[_Piece] = []
        for el in doc.elements:
            pieces.extend(self._pieces(doc.text, el, budget))
        lead = lead_line(doc)
        return [
            replace(span, context=chunk_context(doc.text[span.char_start : span.char_end], span.heading_path, lead))
            for span in self._pack(doc.text, pieces, budget)
        ]

    # -- cutting -------------------------------------------------------------------------------------
    def _pieces(self, text: str, el: Element, budget: int) -> list[_Piece]:
        n = self.tokens(text[el.char_start : el.char_end])
        if n <= budget:
            return [_Piece(el.char_start, el.char_end, n, el, True)]
        out: list[_Piece] = []
        for start, end in _cut_points(text, el):
            n = self.tokens(text[start:end])
            if n <= budget:
                out.append(_Piece(start, end, n, el, not out))
                continue
            for ws, we, wn in self._words(text, start, end, budget):
                out.append(_Piece(ws, we, wn, el, not out))
        return out

    def _words(self, text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
        """Greedy word packing for one over-long sentence (a single huge 'word' is cut by characters)."""
        out: list[tuple[int, int, int]] = []
        cur_start, cur_end, cur_tokens = -1, -1, 0
        for m in _WORD.finditer(text, start, end):
            ws, we = m.start(), m.end()
            wn = self.tokens(text[ws:we])
            if wn > budget:
                if cur_start >= 0:
                    out.append((cur_start, cur_end, cur_tokens))
                    cur_start, cur_tokens = -1, 0
                out.extend(self._chars(text, ws, we, budget))
                continue
            if cur_start >= 0 and cur_tokens + wn > budget:
                out.append((cur_start, cur_end, cur_tokens))
                cur_start, cur_tokens = -1, 0
            if cur_start < 0:
                cur_start = ws
            cur_end, cur_tokens = we, cur_tokens + wn
        if cur_start >= 0:
            out.append((cur_start, cur_end, cur_tokens))
        return out

    def _chars(self, text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
        out = []
        while start < end:
            lo, hi = start + 1, end
            while lo < hi:  # largest prefix that fits
                mid = (lo + hi + 1) // 2
                if self.tokens(text[start:mid]) <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            out.append((start, lo, self.tokens(text[start:lo])))
            start = lo
        return out

    # -- packing -------------------------------------------------------------------------------------
    def _pack(self, text: str, pieces: list[_Piece], budget: int) -> list[ChunkSpan]:
        chunks: list[ChunkSpan] = []
        current: list[_Piece] = []
        total = 0
        for piece in pieces:
            heading_break = (
                piece.element.type == "Title"
                and piece.first_of_element
                and any(p.element.type != "Title" for p in current)
            )
            if current and (heading_break or total + piece.tokens > budget):
                chunks.extend(self._emit(text, current, budget))
                current = [] if heading_break else self._tail(current, budget - piece.tokens)
                total = sum(p.tokens for p in current)
            current.append(piece)
            total += piece.tokens
        if current:
            chunks.extend(self._emit(text, current, budget))
        return [c for c in chunks if text[c.char_start : c.char_end].strip()]

    def _tail(self, pieces: list[_Piece], room: int) -> list[_Piece]:
        """Trailing whole pieces of the previous chunk, up to ``overlap`` tokens, same section only."""
        tail: list[_Piece] = []
        used = 0
        for piece in reversed(pieces[1:]):
            if (
                used + piece.tokens > min(self.overlap, room)
                or piece.element.heading_path != pieces[-1].element.heading_path
            ):
                break
            tail.insert(0, piece)
            used += piece.tokens
        return tail

    def _emit(self, text: str, pieces: list[_Piece], budget: int) -> list[ChunkSpan]:
        start, end = pieces[0].start, pieces[-1].end
        tokens = self.tokens(text[start:end])
        if tokens > budget and len(pieces) > 1:  # piece sums can undercount across joins: recount and halve
            half = len(pieces) // 2
            return self._emit(text, pieces[:half], budget) + self._emit(text, pieces[half:], budget)
        pages = [p.element.page for p in pieces if p.element.page is not None]
        types = tuple(dict.fromkeys(p.element.type for p in pieces))
        span = ChunkSpan(
            start,
            end,
            pieces[-1].element.heading_path,
            min(pages) if pages else None,
            max(pages) if pages else None,
            types,
            tokens + self.special,
            any(p.element.ocr for p in pieces),
        )
        return [span]


def lead_line(doc: ParsedDocument) -> str:
    """The document's lead line: its first paragraph when that is one line of at most ``MAX_LEAD_CHARS`` characters
    and more text follows (the title line of a plain-text file, a paper's title); "" when there is none or the
    document has headings of its own (they are the context then)."""
    if len(doc.elements) < 2 or any(el.heading_path for el in doc.elements):
        return ""
    first = doc.elements[0]
    line = doc.text[first.char_start : first.char_end].strip()
    if not line or "\n" in line or len(line) > MAX_LEAD_CHARS:
        return ""
    return line


def chunk_context(text: str, heading_path: tuple[str, ...], lead: str = "") -> tuple[str, ...]:
    """What a chunk is part of, as BM25 should read it: the lead line and the headings, each only when the
    chunk's own text does not already hold it (the first chunk holds its title), in order, without repeats."""
    flat = " ".join(text.split())
    out: list[str] = []
    for line in (lead, *heading_path):
        line = " ".join(line.split())
        if line and line not in out and line not in flat:
            out.append(line)
    return tuple(out)


_CLAUSE_END = re.compile(r"(?<=[;:])\s+")


def _cut_points(text: str, el: Element) -> list[tuple[int, int]]:
    """Where an over-long element may be cut: a table at its rows; prose at its lines, each line at its sentences
    (``citewise.sentences``: any script, not after "Dr." or an initial) and each sentence at ``;``/``:``."""
    if el.type == "Table":
        return [(s.start, s.end) for s in line_spans(text, el.char_start, el.char_end)]
    out: list[tuple[int, int]] = []
    for line in line_spans(text, el.char_start, el.char_end):
        for sentence in sentence_spans(text, line.start, line.end):
            pos = sentence.start
            for m in _CLAUSE_END.finditer(text, sentence.start, sentence.end):
                out.append((pos, m.start()))
                pos = m.end()
            out.append((pos, sentence.end))
    return [(a, b) for a, b in out if text[a:b].strip()]
