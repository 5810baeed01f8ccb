"""Loaders without unstructured (fast): text in any encoding, PDFs via pdfium, and the bad-file reasons.

Formats parsed by unstructured are covered in tests/integration/test_ingest_formats.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from citewise.errors import IngestError, UnsupportedFormat
from ingest.loaders import decode_bytes, load_file
from tests.paths import CORPUS, require

TEXT = "Café crème, naïve résumé — déjà vu.\n\nSecond paragraph ✓."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_text_in_any_unicode_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(TEXT.encode(encoding))
    doc = load_file(path)
    assert doc.text == TEXT
    assert [doc.text[e.char_start : e.char_end] for e in doc.elements] == TEXT.split("\n\n")


def test_legacy_code_pages() -> None:
    assert decode_bytes("Café crème à la façon, naïve résumé".encode("cp1252")) == "Café crème à la façon, naïve résumé"
    assert decode_bytes("Příliš žluťoučký kůň úpěl ďábelské ódy".encode("cp1250")).startswith("Příliš žluťoučký")


@pytest.mark.parametrize(
    "name",
    [
        "fake-text.txt",
        "fake-text-utf-16.txt",
        "fake-text-utf-16-le.txt",
        "fake-text-utf-16-be.txt",
        "fake-text-utf-32.txt",
    ],
)
def test_corpus_text_encodings_agree(name: str) -> None:
    expected = load_file(require(CORPUS) / "fake-text.txt").text
    assert load_file(CORPUS / name).text.split() == expected.split()  # same words (indentation differs)


def test_pdf_pages_and_title() -> None:
    doc = load_file(require(CORPUS) / "pdf" / "layout-parser-paper-fast.pdf")
    assert doc.parser == "pdfium" and doc.file_type == "pdf"
    assert {e.page for e in doc.elements} == {1, 2}
    assert "LayoutParser" in doc.text
    for e in doc.elements:
        assert doc.text[e.char_start : e.char_end].strip()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", "empty file"),
        ("fake-text-all-whitespace.txt", "no text could be extracted"),
        ("pdf/password.pdf", "password-protected PDF"),
        ("img/DA-1p.heic", "convert it to PNG or JPEG"),
        ("CantinaBand3.wav", "transcribe"),
        ("simple.zip", "extract it"),
        ("fake.doc", "LibreOffice"),
    ],
)
def test_bad_corpus_files_have_actionable_reasons(name: str, reason: str) -> None:
    with pytest.raises(IngestError, match=reason):
        load_file(require(CORPUS) / name)


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 100_000)
    with pytest.raises(IngestError, match="CITEWISE_INGEST__MAX_FILE_MB"):
        load_file(path, max_bytes=100_000)


def test_binary_posing_as_text(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(b"\x00\x01\x02" + os.urandom(5000))
    with pytest.raises(IngestError, match="binary"):
        load_file(path)


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes((require(CORPUS) / "pdf" / "fake-memo.pdf").read_bytes()[:600])
    with pytest.raises(IngestError, match="corrupt or unreadable PDF"):
        load_file(path)


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="cannot read"):
        load_file(tmp_path / "gone.txt")


def test_unsupported_is_an_ingest_error() -> None:
    assert issubclass(UnsupportedFormat, IngestError)


def test_formats_come_from_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_file`` asks ``LOADERS`` by suffix (any case); a new format is one entry; refused ones say what to do."""
    from ingest import loaders

    assert loaders.loader_for(".pdf").parser == "pdfium" and loaders.loader_for(".log").parser == "text"
    assert loaders.loader_for(".docx") is loaders.UNSTRUCTURED
    for suffix, advice in ((".heic", "PNG or JPEG"), (".mp3", "transcribe"), (".zip", "extract it")):
        with pytest.raises(UnsupportedFormat, match=advice):
            load_file(_written(tmp_path / f"x{suffix.upper()}", b"\x00data"))

    shouted = loaders.FormatLoader(
        "shout", lambda path, _ocr: [loaders.Piece(path.read_text().upper(), "NarrativeText")]
    )
    monkeypatch.setitem(loaders.LOADERS, ".shout", shouted)
    doc = load_file(_written(tmp_path / "note.SHOUT", b"quiet words"))
    assert (doc.text, doc.parser, doc.file_type, doc.title) == ("QUIET WORDS", "shout", "shout", "note.SHOUT")


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
