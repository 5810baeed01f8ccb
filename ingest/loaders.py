"""File -> ``ParsedDocument``: the extracted text plus the span, type, page and heading path of each element.

Loaders, by file type (``LOADERS``, keyed by suffix; ``REFUSED`` lists the suffixes refused with a reason):
- PDF: pypdfium2 text layer, one element per paragraph; a page without a text layer (a scan) is rendered and
  OCR'd with tesseract (``ingest.ocr``). A PDF without any text raises, never comes back silently empty.
- images (``.png``, ``.jpg``, ``.tiff``, ...): OCR'd with tesseract, each frame a page.
- plain text (``.txt``, ``.text``, ``.log``): decoded by ``ingest.text_encoding``, paragraphs as elements.
- everything else: ``ingest.unstructured_loader`` (unstructured's ``partition``, offline spaCy).

The document text is the elements' texts joined by blank lines, so every span indexes into it exactly.
Every failure is an ``IngestError`` whose message says what to do.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import IngestError, UnsupportedFormat
from citewise.pdfium_lock import PDFIUM_LOCK, pdfium_serialized
from ingest.ocr import OcrConfig, engine_name, image_pieces, ocr_pieces, render_page, tesseract_version
from ingest.parsed import Element, ParsedDocument, Piece
from ingest.text_encoding import decode_bytes
from ingest.unstructured_loader import load_unstructured

__all__ = [
    "LOADERS",
    "Element",
    "FormatLoader",
    "OcrConfig",
    "ParsedDocument",
    "Piece",
    "assemble",
    "decode_bytes",
    "load_file",
]

LOADER_VERSION = "2"  # 2: OCR of scanned PDF pages and images
SEPARATOR = "\n\n"
SKIPPED_TYPES = {"PageBreak"}
MAX_HEADING = 200


@dataclass(frozen=True)
class FormatLoader:
    """How one format is read: its elements (given the run's OCR settings), its title (empty: the first heading,
    else the file name), and the parser name recorded with each document (plus the OCR engine when it read any
    of the text)."""

    parser: str
    pieces: Callable[[Path, OcrConfig], list[Piece]]
    title: Callable[[Path], str] = lambda _path: ""


def _refused(reason: str, suffixes: str) -> dict[str, str]:
    return {s: reason.format(suffix=s) for s in suffixes.split()}


REFUSED: dict[str, str] = {
    **_refused(
        "HEIC image ({suffix}) cannot be decoded here; convert it to PNG or JPEG and ingest that", ".heic .heif"
    ),
    **_refused("audio file ({suffix}) has no text to index; transcribe it first", ".wav .mp3 .m4a .flac .ogg"),
    **_refused("archive ({suffix}): extract it and ingest the folder instead", ".zip .tar .gz .tgz .7z .rar .bz2 .xz"),
}
LEGACY_OFFICE = {".doc": ".docx", ".ppt": ".pptx"}  # unstructured converts them with LibreOffice, when installed


def parser_version() -> str:
    try:
        from importlib.metadata import version

        return f"unstructured-{version('unstructured')}+pdfium-{version('pypdfium2')}+loader-{LOADER_VERSION}"
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return f"loader-{LOADER_VERSION}"


def load_file(path: Path, max_bytes: int | None = None, ocr: OcrConfig | None = None) -> ParsedDocument:
    """Parse one file (``ocr``: the run's OCR settings, default ``OcrConfig()``); raise
    ``IngestError``/``UnsupportedFormat`` with an actionable reason."""
    ocr = ocr or OcrConfig()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"cannot read the file ({exc.strerror}); check that it exists and is readable") from None
    if size == 0:
        raise IngestError("empty file (0 bytes): nothing to index")
    if max_bytes is not None and size > max_bytes:
        raise IngestError(
            f"file is {size / 1e6:.1f} MB, above the limit of {max_bytes / 1e6:.1f} MB; split it or raise "
            "CITEWISE_INGEST__MAX_FILE_MB"
        )
    suffix = path.suffix.lower()
    loader = loader_for(suffix)
    pieces, title = loader.pieces(path, ocr), loader.title(path)
    parser = f"{loader.parser}+{engine_name(ocr)}" if any(p.ocr for p in pieces) else loader.parser
    doc = assemble(str(path), suffix.lstrip(".") or "unknown", pieces, title or "", parser)
    if not doc.text.strip():
        raise IngestError(
            "no text could be extracted (the file is empty, only whitespace, only images, or encrypted); "
            "check the file opens and contains text"
        )
    return doc


def assemble(path: str, file_type: str, pieces: list[Piece], title: str, parser: str) -> ParsedDocument:
    """Join element texts with blank lines and record each element's span and heading path."""
    parts: list[str] = []
    elements: list[Element] = []
    stack: list[tuple[int, str]] = []
    offset = 0
    for piece in pieces:
        text = piece.text.strip()
        if not text or piece.type in SKIPPED_TYPES:
            continue
        if piece.type == "Title":
            depth = piece.depth or 0
            while stack and stack[-1][0] >= depth:
                stack.pop()
            stack.append((depth, " ".join(text.split())[:MAX_HEADING]))
        if parts:
            parts.append(SEPARATOR)
            offset += len(SEPARATOR)
        parts.append(text)
        path_ = tuple(h for _, h in stack)
        elements.append(Element(offset, offset + len(text), piece.type, piece.page, path_, piece.ocr))
        offset += len(text)
    if not title:
        first = next((e for e in elements if e.type == "Title"), None)
        title = first.heading_path[-1] if first else Path(path).name
    return ParsedDocument(path, file_type, title, "".join(parts), tuple(elements), parser)


def loader_for(suffix: str) -> FormatLoader:
    """The loader of files ending in ``suffix`` (lower case, with the dot); ``UnsupportedFormat`` saying what to do
    for the formats refused here."""
    if suffix in REFUSED:
        raise UnsupportedFormat(REFUSED[suffix])
    if suffix in LEGACY_OFFICE and shutil.which("soffice") is None:
        raise UnsupportedFormat(
            f"legacy {suffix} needs LibreOffice (`soffice` on PATH) to convert; install LibreOffice or "
            f"save the file as {LEGACY_OFFICE[suffix]}"
        )
    return LOADERS.get(suffix, UNSTRUCTURED)


# -- plain text ----------------------------------------------------------------------------------
_PARAGRAPH = re.compile(r"\n\s*\n")


def _load_text(path: Path, _ocr: OcrConfig) -> list[Piece]:
    text = decode_bytes(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise IngestError("the file contains NUL bytes, so it is binary, not text; give it its real extension")
    return [Piece(p, "NarrativeText") for p in _PARAGRAPH.split(text)]


# -- PDF -----------------------------------------------------------------------------------------
def _open_pdf(path: Path) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise IngestError(
                "password-protected PDF: remove the password (e.g. `qpdf --decrypt`) and ingest it again"
            ) from None
        raise IngestError(f"corrupt or unreadable PDF ({exc}); re-export or repair it (e.g. `qpdf`)") from None


def _load_pdf(path: Path, ocr: OcrConfig) -> list[Piece]:
    """The text layer's paragraphs of every page; pages without one OCR'd (each rendered under the pdfium lock,
    read by tesseract outside it, so page images for the citation viewer are not held up by OCR)."""
    with PDFIUM_LOCK:
        pdf = _open_pdf(path)
    try:
        pieces: list[Piece] = []
        scanned: list[int] = []  # pages without a text layer
        with PDFIUM_LOCK:
            pages = len(pdf)
            for number in range(pages):
                page = pdf[number]
                textpage = page.get_textpage()
                try:
                    text = textpage.get_text_range()
                finally:
                    textpage.close()  # pdfium's objects are freed here, under the lock, not by a later GC
                    page.close()
                text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
                if not text.strip():
                    scanned.append(number)
                pieces.extend(Piece(p, "NarrativeText", page=number + 1) for p in _PARAGRAPH.split(text) if p.strip())
        if scanned and ocr.enabled and _tesseract_usable(ocr, required=not pieces):
            for number in scanned:
                with PDFIUM_LOCK:
                    page = pdf[number]
                    try:
                        image = render_page(page, ocr.dpi)
                    finally:
                        page.close()
                pieces.extend(ocr_pieces(image, ocr, number + 1))
            pieces.sort(key=lambda p: p.page or 0)  # stable: each page's paragraphs keep their order
        if not pieces:
            why = "OCR found no text on them" if ocr.enabled else "OCR is off (CITEWISE_INGEST__OCR=false)"
            raise IngestError(
                f"the PDF has no text layer on any of its {pages} pages and {why}; check that the pages "
                "hold text (or turn OCR on), or OCR it first (e.g. `ocrmypdf`) and ingest the result"
            )
        return pieces
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def _tesseract_usable(ocr: OcrConfig, required: bool) -> bool:
    """Whether scanned pages can be OCR'd; when they are the whole document (``required``), tesseract's absence
    (or a missing language pack) is the file's failure, otherwise the pages with text are indexed alone."""
    try:
        tesseract_version(ocr.languages)
    except IngestError as exc:
        if required:
            raise
        logging.getLogger(__name__).warning("scanned pages left out: %s", exc.message)
        return False
    return True


@pdfium_serialized
def _pdf_title(path: Path) -> str:
    pdf = _open_pdf(path)
    try:
        return str(pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()


TEXT = FormatLoader("text", _load_text)
PDF = FormatLoader("pdfium", _load_pdf, _pdf_title)
IMAGE = FormatLoader("pillow", image_pieces)
UNSTRUCTURED = FormatLoader("unstructured", lambda path, _ocr: load_unstructured(path))  # every other suffix
LOADERS: dict[str, FormatLoader] = {
    ".pdf": PDF,
    ".txt": TEXT,
    ".text": TEXT,
    ".log": TEXT,
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"), IMAGE),
}
