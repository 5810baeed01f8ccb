"""Chunk context for BM25: the lead line (a plain-text title) or the headings a chunk's own text does not hold;
the stored span stays the document's bytes (word-count tokenizer; BM25 itself in the congruence test)."""

from __future__ import annotations

from citewise.types import Chunk
from ingest.chunking import MAX_LEAD_CHARS, Chunker, chunk_context, lead_line
from ingest.loaders import Piece, assemble


def words(text: str) -> int:
    return len(text.split()) + 2


def text_doc(*paragraphs: str):  # type: ignore[no-untyped-def]
    return assemble("/x/abstract.txt", "txt", [Piece(p, "NarrativeText") for p in paragraphs], "", "test")


ABSTRACT = " ".join(f"Sentence {i} reports the measured effect of the treatment." for i in range(30))


def test_later_chunks_of_a_titled_text_carry_the_title_and_the_spans_stay_exact() -> None:
    doc = text_doc("Vitamin D deficiency and colorectal cancer risk", ABSTRACT)
    spans = Chunker(words, 256, 60, 8).chunk(doc)
    assert len(spans) > 2
    assert spans[0].context == ()  # the first chunk holds the title itself
    assert all(s.context == ("Vitamin D deficiency and colorectal cancer risk",) for s in spans[1:])
    for s in spans:
        assert doc.text[s.char_start : s.char_end] == doc.text[s.char_start : s.char_end].strip()
    chunk = Chunk("d", 1, doc.text[spans[1].char_start : spans[1].char_end], "a.txt", "a.txt",
                  spans[1].char_start, spans[1].char_end, context=spans[1].context)  # fmt: skip
    assert chunk.sparse_text() == "Vitamin D deficiency and colorectal cancer risk\n\n" + chunk.text
    assert Chunk.from_payload(chunk.payload()).context == chunk.context  # stored and read back with the payload


def test_no_lead_line_when_the_first_paragraph_is_prose_long_or_alone() -> None:
    assert lead_line(text_doc("A first paragraph\nof two lines.", ABSTRACT)) == ""
    assert lead_line(text_doc("x" * (MAX_LEAD_CHARS + 1), ABSTRACT)) == ""
    assert lead_line(text_doc("Only one paragraph")) == ""
    assert lead_line(text_doc("  A title line  ", ABSTRACT)) == "A title line"
    spans = Chunker(words, 256, 60, 8).chunk(text_doc(ABSTRACT))
    assert all(s.context == () for s in spans)
    assert Chunk("d", 0, "t", "s", "s", 0, 1).sparse_text() == "t"  # no context: the text alone


def test_headings_are_the_context_when_the_document_has_them() -> None:
    doc = assemble(
        "/x/doc.md",
        "md",
        [
            Piece("Results", "Title", depth=0),
            Piece(ABSTRACT, "NarrativeText"),
            Piece("Limits", "Title", depth=1),
            Piece("Small sample.", "NarrativeText"),
        ],
        "",
        "test",
    )
    assert lead_line(doc) == ""
    spans = Chunker(words, 256, 60, 8).chunk(doc)
    assert spans[0].context == () and spans[1].context == ("Results",)
    assert spans[-1].context == ("Results",)  # "Limits" is in its own text
    assert chunk_context("x", ("A  b", "A b", "C"), "Lead") == ("Lead", "A b", "C")
