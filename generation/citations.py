"""Citations whose ``quote`` is exactly ``document_text[char_start:char_end]``.

The quote is the smallest span of the chunk that covers the passage sentences supporting the answer
(one sentence usually), not the whole chunk. Offsets are the chunk's offsets in the document's extracted
text plus the sentence offsets inside the chunk; the quote is read back from the docstore, so it is the
document's own text. A chunk whose text no longer matches its document (re-ingested since) is not cited.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from citewise.errors import NotFound
from citewise.types import Citation
from generation.text import Span
from generation.verify import Source


class TextSource(Protocol):
    def get_text(self, doc_id: str, content_hash: str | None = None) -> str: ...


class DocumentTexts:
    """Reads document texts once per answer (a docstore, or the chunks themselves when there is none)."""

    def __init__(self, store: TextSource | None) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], str | None] = {}

    def text(self, source: Source) -> tuple[str, int] | None:
        """(text, offset of the chunk in it), or None when the chunk is stale."""
        chunk = source.hit.chunk
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
