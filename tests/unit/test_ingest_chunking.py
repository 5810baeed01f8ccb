"""Chunker: spans index the text exactly, token bound holds, structure is followed (word-count tokenizer here;
the real MiniLM tokenizer is exercised in tests/integration/test_ingest_pipeline.py)."""

from __future__ import annotations

import itertools

import pytest

from citewise.errors import ConfigError
from ingest.chunking import Chunker
from ingest.loaders import Piece, assemble


def words(text: str) -> int:
    return len(text.split()) + 2  # two special tokens, like [CLS]/[SEP]


def make(pieces: list[Piece]):  # type: ignore[no-untyped-def]
    return assemble("/x/doc.md", "md", pieces, "", "test")


def check(chunker: Chunker, doc) -> list:  # type: ignore[no-untyped-def]
    spans = chunker.chunk(doc)
    assert spans
    for s in spans:
        text = doc.text[s.char_start : s.char_end]
        assert text == text.strip() and text
        assert words(text) <= chunker.limit
    return spans


def test_small_sections_follow_headings() -> None:
    doc = make(
        [
            Piece("Intro", "Title", depth=0),
            Piece("First para about cats.", "NarrativeText"),
            Piece("Methods", "Title", depth=0),
            Piece("We measured dogs.", "NarrativeText"),
            Piece("Details", "Title", depth=1),
            Piece("Sub detail.", "NarrativeText"),
        ]
    )
    spans = check(Chunker(words, 256, 50, 5), doc)
    texts = [doc.text[s.char_start : s.char_end] for s in spans]
    assert texts == ["Intro\n\nFirst para about cats.", "Methods\n\nWe measured dogs.", "Details\n\nSub detail."]
    assert spans[0].heading_path == ("Intro",)
    assert spans[2].heading_path == ("Methods", "Details")
    assert spans[1].element_types == ("Title", "NarrativeText")


def test_long_prose_is_split_by_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} says something about topic {i}." for i in range(60)]
    doc = make([Piece(" ".join(sentences), "NarrativeText", page=3)])
    spans = check(Chunker(words, 256, 40, 10), doc)
    assert len(spans) > 5
    for a, b in itertools.pairwise(spans):
        assert b.char_start < a.char_end, "consecutive chunks in one section overlap"
        assert b.char_start > a.char_start
    assert spans[-1].char_end == len(doc.text)
    assert all(s.page_start == 3 and s.page_end == 3 for s in spans)


def test_table_split_by_rows() -> None:
    rows = "\n".join(f"row {i} | value {i} | more {i}" for i in range(100))
    doc = make([Piece("name | value | more\n" + rows, "Table")])
    spans = check(Chunker(words, 256, 30, 0), doc)
    for s in spans:  # never cut inside a row
        text = doc.text[s.char_start : s.char_end]
        assert all(line.count("|") == 2 for line in text.split("\n"))


def test_giant_word_is_cut_by_characters() -> None:
    doc = make([Piece("x" * 5000, "NarrativeText")])

    def chars(text: str) -> int:  # one token per 10 characters
        return len(text) // 10 + 2

    spans = Chunker(chars, 256, 100, 0).chunk(doc)
    assert "".join(doc.text[s.char_start : s.char_end] for s in spans) == doc.text
    assert all(chars(doc.text[s.char_start : s.char_end]) <= 100 for s in spans)


def test_covers_all_text() -> None:
    paras = [Piece(f"Paragraph {i} " + "word " * (i * 7), "NarrativeText") for i in range(20)]
    doc = make(paras)
    spans = check(Chunker(words, 256, 64, 0), doc)
    covered = set()
    for s in spans:
        covered.update(range(s.char_start, s.char_end))
    assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())


@pytest.mark.parametrize(
    ("tokens", "overlap", "variable"),
    [(300, 10, "CITEWISE_INGEST__CHUNK_TOKENS"), (100, 100, "CITEWISE_INGEST__CHUNK_OVERLAP")],
)
def test_bad_sizes_are_config_errors(tokens: int, overlap: int, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Chunker(words, 256, tokens, overlap)


def test_long_prose_is_cut_at_sentences_of_any_script_never_after_an_abbreviation() -> None:
    """The chunker cuts at citewise.sentences' sentences: 。 ends a Chinese sentence with no space after it (the old
    whitespace rule cut such a paragraph by characters), and "Dr. Smith" is one sentence."""
    chinese = "".join(f"第{i}句话说的是一件很长的事情。" for i in range(40))
    english = " ".join(f"Dr. Smith wrote report {i} about it." for i in range(40))

    def chars(text: str) -> int:  # one token per character (no spaces in Chinese to count words by)
        return len(text) + 2

    def cut(prose: str) -> list[str]:
        doc = make([Piece(prose, "NarrativeText")])
        texts = [doc.text[s.char_start : s.char_end] for s in Chunker(chars, 512, 120, 0).chunk(doc)]
        assert all(chars(t) <= 120 for t in texts) and len(texts) > 4
        return texts

    assert all(t.startswith("第") and t.endswith("。") for t in cut(chinese))
    assert all(t.startswith("Dr. Smith") and t.endswith("about it.") for t in cut(english))
