"""What loaders produce: a document's extracted text and the span, type, page and heading path of each element."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Element:
    """One element's place in the document text."""

    char_start: int
    char_end: int
    type: str
    page: int | None
    heading_path: tuple[str, ...]
    ocr: bool = False  # recognised by OCR (ingest.ocr), not read from a text layer


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
class Piece:
    """One element as a loader found it, before ``ingest.loaders.assemble`` places it in the text."""

    text: str
    type: str
    page: int | None = None
    depth: int | None = None  # heading depth for titles
    ocr: bool = False  # recognised by OCR (ingest.ocr)
