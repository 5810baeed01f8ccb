"""Citations whose ``quote`` is exactly ``document_text[char_start:char_end]``.

The quote is the smallest span of the chunk that covers the passage sentences supporting the answer
(one sentence usually), not the whole chunk. Offsets are the chunk's offsets in the document's extracted
text plus the sentence offsets inside the chunk; the quote is read back from the docstore, so it is the
document's own text. A chunk whose text no longer matches its document (re-ingested since) is not cited.

``whole_sentences`` widens a retrieved chunk that starts or ends inside a sentence to that sentence's edges in its
document, so the answerer can quote it whole. Chunks are bounded by the dense encoder's word pieces, and a
script that encoder's tokenizer splits into many pieces (Cyrillic, Arabic, Devanagari for MiniLM) gets chunks of
one or two sentences, often cut mid-sentence (on XQuAD's even articles the gold answer of 26 % of the Russian
questions whose answer was retrieved lay only in such a cut sentence, 10 % in Arabic, 1 % in English).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from citewise.errors import NotFound
from citewise.sentences import sentence_spans
from citewise.types import Chunk, Citation, Hit
from generation.text import Span
from generation.verify import Source

SENTENCE_REACH = 1000  # most characters a chunk is widened by on each side to reach its sentences' edges
MIN_PASSAGE_CHARS = 600  # a shorter chunk takes in its paragraph's neighbouring sentences up to this length


class TextSource(Protocol):
    def get_text(self, doc_id: str, content_hash: str | None = None) -> str: ...


class DocumentTexts:
    """Reads document texts once per answer (a docstore, or the chunks themselves when there is none)."""

    def __init__(self, store: TextSource | None) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], str | None] = {}

    def text(self, source: Source) -> tuple[str, int] | None:
        """(text, offset of the chunk in it), or None when the chunk is stale."""
        return self.of_chunk(source.hit.chunk)

    def of_chunk(self, chunk: Chunk) -> tuple[str, int] | None:
        """(text, offset of ``chunk`` in it), or None when the chunk is stale."""
        if self.store is None:
            return chunk.text, chunk.char_start
        key = (chunk.doc_id, chunk.content_hash)
        if key not in self._cache:
            try:
                self._cache[key] = self.store.get_text(chunk.doc_id, chunk.content_hash or None)
            except NotFound:
                self._cache[key] = None
        text = self._cache[key]
        if text is None or text[chunk.char_start : chunk.char_end] != chunk.text:
            return None
        return text, 0


def cite(source: Source, spans: Sequence[Span], texts: DocumentTexts) -> Citation | None:
    """A citation of ``source`` quoting the span that covers ``spans`` (the whole chunk when empty)."""
    chunk = source.hit.chunk
    found = texts.text(source)
    if found is None:
        return None
    text, base = found
    local_start = min((s.start for s in spans), default=0)
    local_end = max((s.end for s in spans), default=len(chunk.text))
    start, end = chunk.char_start + local_start, chunk.char_start + local_end
    quote = text[start - base : end - base]
    return Citation(
        n=source.n,
        doc_id=chunk.doc_id,
        chunk_id=chunk.id,
        source=chunk.source,
        title=chunk.title,
        page=chunk.page_start,
        char_start=start,
        char_end=end,
        quote=quote,
        ocr=chunk.ocr,
    )


def whole_sentences(hit: Hit, texts: DocumentTexts) -> Hit:
    """``hit`` with its chunk widened to whole sentences of its document when an edge of the chunk cuts one (at
    most ``SENTENCE_REACH`` characters each side, never across a line break), and a chunk shorter than
    ``MIN_PASSAGE_CHARS`` grown by its paragraph's sentences around it; unchanged without a docstore."""
    chunk = hit.chunk
    if texts.store is None:
        return hit
    found = texts.of_chunk(chunk)
    if found is None:
        return hit
    text, base = found
    start, end = widened(text, chunk.char_start - base, chunk.char_end - base)
    if (start, end) == (chunk.char_start - base, chunk.char_end - base):
        return hit
    wider = replace(chunk, text=text[start:end], char_start=start + base, char_end=end + base)
    return replace(hit, chunk=wider)


def widened(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` moved out to the edges of the sentences of ``text`` it cuts (see ``whole_sentences``)."""
    low, high = max(0, start - SENTENCE_REACH), min(len(text), end + SENTENCE_REACH)
    spans = sentence_spans(text, low, high)
    first = next((s for s in spans if s.end > start), None)
    # the window's first and last spans may be cut by the window itself: trusted only at the text's edges
    if first is not None and first.start < start and (first is not spans[0] or low == 0):
        start = max(first.start, text.rfind("\n", first.start, start) + 1)
    last = next((s for s in reversed(spans) if s.start < end), None)
    if last is not None and last.end > end and (last is not spans[-1] or high == len(text)):
        cut = text.find("\n", end, last.end)
        end = last.end if cut < 0 else cut
    return _grown(text, spans, start, end, low, high)


def _grown(text: str, spans: list[Span], start: int, end: int, low: int, high: int) -> tuple[int, int]:
    """``[start, end)`` with the whole sentences around it of the same paragraph (no line break crossed), next
    one first, until it is ``MIN_PASSAGE_CHARS`` long."""
    inside = [s for s in spans if (s is not spans[0] or low == 0) and (s is not spans[-1] or high == len(text))]
    after = [s for s in inside if s.start >= end]
    before = [s for s in reversed(inside) if s.end <= start]
    while end - start < MIN_PASSAGE_CHARS and (after or before):
        if after:
            s = after.pop(0)
            if "\n" in text[end : s.end]:
                after = []
            else:
                end = s.end
        if before and end - start < MIN_PASSAGE_CHARS:
            s = before.pop(0)
            if "\n" in text[s.start : start]:
                before = []
            else:
                start = s.start
    return start, end


def distinct_passages(hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` without those whose text lies inside a better-ranked hit's (widened chunks of one paragraph)."""
    kept: list[Hit] = []
    for hit in hits:
        c = hit.chunk
        if not any(k.chunk.doc_id == c.doc_id and k.chunk.char_start <= c.char_start and c.char_end <= k.chunk.char_end
                   for k in kept):  # fmt: skip
            kept.append(hit)
    return kept
