"""PDF pages for the citation viewer: a page rendered as PNG (pdfium), and where a quote sits on it.

The quote is located in the page's own text layer (pdfium's characters, the ones ``ingest.loaders`` extracted the
text from), compared on letters and digits only (NFKC, case-folded), so line breaks, hyphenation and spacing do
not matter. An exact match gives the quote's boxes; otherwise the longest runs it shares with the page (a quote
that continues on the next page, a text changed since) are boxed, and ``match`` says ``partial``.
Boxes are pdfium's text rectangles (one per line run), given as fractions of the rendered page (top-left origin).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest, NotFound
from citewise.pdfium_lock import pdfium_serialized

MIN_RUN = 12  # normalized characters a partial match must share in one run
MAX_WIDTH = 2000


@dataclass(frozen=True)
class Box:
    """A rectangle as fractions of the page's width and height, from its top-left corner."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class PageQuote:
    """A page of a PDF and the boxes of a quote on it."""

    page: int
    pages: int
    width_pt: float
    height_pt: float
    match: str  # exact, partial, none
    coverage: float  # share of the quote's letters and digits that were boxed
    boxes: tuple[Box, ...]


@contextmanager
def open_pdf(path: Path) -> Iterator[Any]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise NotFound(f"the original PDF cannot be opened ({exc}); ingest it again") from None
    try:
        yield pdf
    finally:
        pdf.close()


def _page(pdf: Any, number: int) -> Any:
    if not 1 <= number <= len(pdf):
        raise NotFound(f"page {number} is out of range: the document has {len(pdf)} page(s), numbered from 1")
    return pdf[number - 1]


def render_png(path: Path, number: int, width: int) -> bytes:
    """Page ``number`` (from 1) as a PNG ``width`` pixels wide."""
    if not 100 <= width <= MAX_WIDTH:
        raise InvalidRequest(f"width must be 100-{MAX_WIDTH} pixels; got {width}")
    out = io.BytesIO()
    _render(path, number, width).save(out, "PNG")  # encoded outside the pdfium lock
    return out.getvalue()


@pdfium_serialized
def _render(path: Path, number: int, width: int) -> Any:
    with open_pdf(path) as pdf:
        page = _page(pdf, number)
        try:
            bitmap = page.render(scale=width / page.get_width(), may_draw_forms=True)
            try:
                return bitmap.to_pil().convert("RGB")  # a copy: the bitmap is freed under the lock
            finally:
                bitmap.close()
        finally:
            page.close()


def _normalized(text: str) -> tuple[str, list[int]]:
    """``text`` reduced to case-folded letters and digits, and for each kept character its index in ``text``."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                chars.append(c)
                where.append(i)
    return "".join(chars), where


def _runs(page_norm: str, quote_norm: str) -> list[tuple[int, int]]:
    """Ranges of ``page_norm`` holding the quote: the exact match, else the long runs shared with it."""
    at = page_norm.find(quote_norm)
    if at >= 0:
        return [(at, at + len(quote_norm))]
    matcher = SequenceMatcher(None, page_norm, quote_norm, autojunk=False)
    least = min(MIN_RUN, len(quote_norm))
    return [(b.a, b.a + b.size) for b in matcher.get_matching_blocks() if b.size >= least]


@pdfium_serialized
def locate(path: Path, number: int, quote: str) -> PageQuote:
    """Page ``number`` of the PDF and the boxes of ``quote`` on it (none when it is not on that page)."""
    import pypdfium2.raw as raw

    with open_pdf(path) as pdf:
        pages = len(pdf)
        page = _page(pdf, number)
        try:
            left, bottom, right, top = page.get_cropbox()
            width, height = right - left, top - bottom
            rotation = page.get_rotation() % 360
            textpage = page.get_textpage()
            try:
                count = textpage.count_chars()
                text = "".join(chr(raw.FPDFText_GetUnicode(textpage, i)) for i in range(count))
                page_norm, where = _normalized(text)
                quote_norm, _ = _normalized(quote)
                runs = _runs(page_norm, quote_norm) if quote_norm else []
                boxes: list[Box] = []
                for start, end in runs:
                    first, last = where[start], where[end - 1]
                    for r in range(textpage.count_rects(first, last - first + 1)):
                        x0, y0, x1, y1 = textpage.get_rect(r)
                        corners = ((x0 - left) / width, (top - y1) / height, (x1 - left) / width, (top - y0) / height)
                        boxes.append(_rotated(corners, rotation))
            finally:
                textpage.close()
        finally:
            page.close()
    covered = sum(end - start for start, end in runs)
    coverage = covered / len(quote_norm) if quote_norm else 0.0
    match = "none" if not boxes else "exact" if coverage >= 1.0 else "partial"
    if rotation in (90, 270):
        width, height = height, width
    return PageQuote(number, pages, width, height, match, round(coverage, 4), tuple(boxes))


def _rotated(corners: tuple[float, float, float, float], rotation: int) -> Box:
    """A box given as (left, top, right, bottom) fractions of the unrotated page, on the page as shown (the page's
    /Rotate turns it clockwise, and pdfium renders it turned)."""
    u0, v0, u1, v1 = corners
    if rotation == 90:
        u0, v0, u1, v1 = 1 - v1, u0, 1 - v0, u1
    elif rotation == 180:
        u0, v0, u1, v1 = 1 - u1, 1 - v1, 1 - u0, 1 - v0
    elif rotation == 270:
        u0, v0, u1, v1 = v0, 1 - u1, v1, 1 - u0
    return Box(left=round(u0, 5), top=round(v0, 5), width=round(u1 - u0, 5), height=round(v1 - v0, 5))
