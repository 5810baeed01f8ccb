"""OCR of scanned PDF pages and image files with the real tesseract (``ingest/ocr.py``), on the shared corpus."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from citewise.errors import ConfigError, IngestError
from citewise.settings import load_settings
from ingest.loaders import load_file
from ingest.ocr import OcrConfig, tesseract_version
from tests.paths import CORPUS, require

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


@pytest.fixture()
def no_tesseract(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import pytesseract

    tesseract_version.cache_clear()
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    yield
    tesseract_version.cache_clear()


def test_a_scanned_pdf_page_is_read_by_ocr() -> None:
    """single_table.pdf is one image, no text layer: its text comes from tesseract, marked as such."""
    doc = load_file(require(CORPUS) / "pdf" / "single_table.pdf")
    assert doc.parser.startswith("pdfium+tesseract-") and doc.parser.endswith("[eng]")
    assert "total chunks" in doc.text and "64,058" in doc.text
    assert doc.elements and all(e.ocr and e.page == 1 for e in doc.elements)
    for e in doc.elements:
        assert doc.text[e.char_start : e.char_end].strip()


def test_only_the_pages_without_text_are_ocred() -> None:
    """Page 1 and 4 have a text layer, page 2 is blank (skipped), page 3 is a scan; the order stays the pages'."""
    doc = load_file(require(CORPUS) / "pdf" / "layout-parser-paper-with-empty-pages.pdf")
    pages = [(e.page, e.ocr) for e in doc.elements]
    assert {p for p, _ in pages} == {1, 3, 4}
    assert all(ocr == (page == 3) for page, ocr in pages)
    assert [p for p, _ in pages] == sorted(p for p, _ in pages)
    scanned = next(e for e in doc.elements if e.page == 3)
    assert "intentionally left blank" in doc.text[scanned.char_start : scanned.char_end]


def test_an_image_file_every_frame_a_page(tmp_path: Path) -> None:
    """A two-page TIFF (the corpus memo, rendered): one page per frame, the memo's words recovered."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(require(CORPUS) / "pdf" / "fake-memo-with-duplicate-page.pdf"))
    frames = [pdf[i].render(scale=200 / 72).to_pil().convert("L") for i in range(len(pdf))]
    pdf.close()
    path = tmp_path / "memo.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    doc = load_file(path)
    assert doc.file_type == "tiff" and doc.parser.startswith("pillow+tesseract-")
    assert {e.page for e in doc.elements} == {1, 2} and all(e.ocr for e in doc.elements)
    assert doc.text.count("3 trucks") == 2


def test_a_missing_language_pack_is_named() -> None:
    with pytest.raises(IngestError, match=r"language pack 'klingon' is not installed.*tesseract-ocr-klingon"):
        load_file(require(CORPUS) / "pdf" / "single_table.pdf", ocr=OcrConfig(languages="eng+klingon"))


def test_without_tesseract_images_fail_with_what_to_install(no_tesseract: None) -> None:
    with pytest.raises(IngestError, match=r"tesseract program is not installed.*apt install tesseract-ocr"):
        load_file(require(CORPUS) / "img" / "DA-1p.png")
    with pytest.raises(IngestError, match="tesseract program is not installed"):
        load_file(require(CORPUS) / "pdf" / "single_table.pdf")
    # a PDF with text on some pages keeps them; its scanned pages are left out (logged)
    doc = load_file(require(CORPUS) / "pdf" / "layout-parser-paper-with-empty-pages.pdf")
    assert doc.parser == "pdfium" and {e.page for e in doc.elements} == {1, 4}


def test_ocr_off_says_so() -> None:
    off = OcrConfig(enabled=False)
    with pytest.raises(IngestError, match="OCR, which is off"):
        load_file(require(CORPUS) / "img" / "DA-1p.png", ocr=off)
    with pytest.raises(IngestError, match=r"no text layer on any of its 1 pages and OCR is off"):
        load_file(require(CORPUS) / "pdf" / "single_table.pdf", ocr=off)


def test_a_corrupt_image_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes((require(CORPUS) / "img" / "DA-1p.png").read_bytes()[:300])
    with pytest.raises(IngestError, match="re-save it as PNG or JPEG"):
        load_file(path)


def test_a_photo_without_text_says_so() -> None:
    with pytest.raises(IngestError, match="found no text in this image"):
        load_file(require(CORPUS) / "img" / "example.jpg")


def test_languages_from_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_INGEST__OCR_LANGUAGES", "eng, deu")
    assert OcrConfig.from_settings(load_settings().ingest) == OcrConfig(True, "eng+deu", 300)
    monkeypatch.setenv("CITEWISE_INGEST__OCR_LANGUAGES", "eng;rm -rf")
    with pytest.raises(ConfigError, match=r"CITEWISE_INGEST__OCR_LANGUAGES.*tesseract language codes"):
        load_settings()
