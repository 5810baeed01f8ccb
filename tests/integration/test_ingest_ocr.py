"""A scanned PDF on the real stack: ingested with tesseract OCR, found by the real MiniLM + BM25 search, and
answered with a citation that quotes the stored text exactly and says the quote came from OCR."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from citewise.commands.ask import print_citations
from generation import Answerer, answer_json
from retrieval import Retriever, access_filter
from tests.ingest_support import all_chunks, ingest_folder
from tests.paths import CORPUS, require

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed"),
]


def scanned_pdf(source: Path, target: Path) -> Path:
    """An image-only PDF: every page of ``source`` rendered at 200 dpi and saved as a picture, no text layer."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(source))
    pages = [pdf[i].render(scale=200 / 72).to_pil().convert("RGB") for i in range(len(pdf))]
    pdf.close()
    pages[0].save(target, save_all=True, append_images=pages[1:], resolution=200)
    return target


def test_a_scanned_page_is_answerable_with_an_ocr_marked_citation(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    scanned_pdf(require(CORPUS) / "pdf" / "fake-memo.pdf", docs / "memo-scan.pdf")
    shutil.copy(CORPUS / "pdf" / "single_table.pdf", docs)  # the corpus's own scan
    shutil.copy(CORPUS / "pdf" / "DA-1p.pdf", docs)  # a PDF with a text layer, not OCR'd
    settings, index, store = ingest_folder(docs, tmp_path / "data", dense_encoder, bm25_encoder)
    try:
        chunks = all_chunks(index)
        by_file = {Path(c.source).name: c for c in chunks}
        assert by_file["memo-scan.pdf"].ocr and by_file["single_table.pdf"].ocr and not by_file["DA-1p.pdf"].ocr
        assert by_file["memo-scan.pdf"].versions["parser"].startswith("pdfium+tesseract-")
        assert by_file["DA-1p.pdf"].versions["parser"] == "pdfium"

        retriever = Retriever(settings.retrieval, index, dense_encoder, bm25_encoder, reranker=None)
        answer = Answerer.from_settings(settings, retriever).answer(
            "How many trucks were used to deliver the bottles of water?", k=3, filters=access_filter("default")
        )
        assert not answer.abstained, answer
        cited = [c for c in answer.citations if Path(c.source).name == "memo-scan.pdf"]
        assert cited, answer.citations
        for c in cited:
            assert c.ocr and c.page == 1
            assert store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote
        assert "3 trucks" in " ".join(c.quote for c in cited)
        data = answer_json(answer)
        assert any(c["ocr"] for c in data["citations"])
        print_citations(data["citations"])
        assert "p. 1, OCR" in capsys.readouterr().out
    finally:
        index.close()


def test_ocr_runs_outside_the_pdfium_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tesseract takes seconds a page: while it reads a rendered page, another thread (the citation viewer's page
    images) can use pdfium; the text still comes out, marked as OCR'd."""
    import threading

    from citewise.pdfium_lock import PDFIUM_LOCK
    from ingest import loaders

    scan = scanned_pdf(require(CORPUS) / "pdf" / "fake-memo.pdf", tmp_path / "memo-scan.pdf")
    free_during_ocr: list[bool] = []
    real = loaders.ocr_pieces

    def ocr_and_check(*args: Any, **kwargs: Any) -> Any:
        def other_thread() -> None:
            got = PDFIUM_LOCK.acquire(timeout=5)
            free_during_ocr.append(got)
            if got:
                PDFIUM_LOCK.release()

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        return real(*args, **kwargs)

    monkeypatch.setattr(loaders, "ocr_pieces", ocr_and_check)
    pieces = loaders._load_pdf(scan, loaders.OcrConfig())
    assert free_during_ocr and all(free_during_ocr)
    assert pieces and all(p.ocr for p in pieces) and "10,000 blankets" in " ".join(p.text for p in pieces)
