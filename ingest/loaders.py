"""File -> ``ParsedDocument``: the extracted text plus the span, type, page and heading path of each element.

Loaders, by file type (``LOADERS``, keyed by suffix; ``REFUSED`` lists the suffixes refused with a reason):
- PDF: pypdfium2 text layer, one element per page (fast, no OCR). A PDF without any text raises, never
  comes back silently empty.
- plain text (``.txt``, ``.text``, ``.log``): decoded by ``ingest.text_encoding``, paragraphs as elements.
- everything else: ``ingest.unstructured_loader`` (unstructured's ``partition``, offline spaCy).

The document text is the elements' texts joined by blank lines, so every span indexes into it exactly.
Every failure is an ``IngestError`` whose message says what to do.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import IngestError, UnsupportedFormat
from citewise.pdfium_lock import pdfium_serialized
from ingest.parsed import Element, ParsedDocument, Piece
from ingest.text_encoding import decode_bytes
from ingest.unstructured_loader import load_unstructured

__all__ = ["LOADERS", "Element", "FormatLoader", "ParsedDocument", "Piece", "assemble", "decode_bytes", "load_file"]

LOADER_VERSION = "1"
SEPARATOR = "\n\n"
SKIPPED_TYPES = {"PageBreak"}
MAX_HEADING = 200


@dataclass(frozen=True)
class FormatLoader:
    """How one format is read: its elements, its title (empty: the first heading, else the file name), and the
    parser name recorded with each document."""

    parser: str
    pieces: Callable[[Path], list[Piece]]
    title: Callable[[Path], str] = lambda _path: ""


def _refused(reason: str, suffixes: str) -> dict[str, str]:
    return {s: reason.format(suffix=s) for s in suffixes.split()}


REFUSED: dict[str, str] = {
    **_refused(
        "image file ({suffix}): text in images needs OCR, which is not installed here; "
        "OCR it to PDF/text first, or install unstructured[image] with tesseract",
        ".png .jpg .jpeg .tif .tiff .bmp .heic .gif .webp",
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


def load_file(path: Path, max_bytes: int | None = None) -> ParsedDocument:
    """Parse one file; raise ``IngestError``/``UnsupportedFormat`` with an actionable reason."""
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
    pieces, title = loader.pieces(path), loader.title(path)
    doc = assemble(str(path), suffix.lstrip(".") or "unknown", pieces, title or "", loader.parser)
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
        elements.append(Element(offset, offset + len(text), piece.type, piece.page, tuple(h for _, h in stack)))
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


def _load_text(path: Path) -> list[Piece]:
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


@pdfium_serialized
def _load_pdf(path: Path) -> list[Piece]:
    pdf = _open_pdf(path)
    try:
        pieces: list[Piece] = []
        for number in range(len(pdf)):
            page = pdf[number]
            try:
                text = page.get_textpage().get_text_range()
            finally:
                page.close()
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
            pieces.extend(Piece(p, "NarrativeText", page=number + 1) for p in _PARAGRAPH.split(text) if p.strip())
        if not pieces:
            raise IngestError(
                f"the PDF has no text layer on any of its {len(pdf)} pages (scanned images?); OCR is not "
                "installed here: OCR it first (e.g. `ocrmypdf`) and ingest the result"
            )
        return pieces
    finally:
        pdf.close()


@pdfium_serialized
def _pdf_title(path: Path) -> str:
    pdf = _open_pdf(path)
    try:
        return str(pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()


TEXT = FormatLoader("text", _load_text)
PDF = FormatLoader("pdfium", _load_pdf, _pdf_title)
UNSTRUCTURED = FormatLoader("unstructured", load_unstructured)  # every suffix without a loader of its own
LOADERS: dict[str, FormatLoader] = {".pdf": PDF, ".txt": TEXT, ".text": TEXT, ".log": TEXT}
