"""OCR with tesseract, for PDF pages without a text layer and for image files.

Tesseract is called directly through ``pytesseract`` (a page is rendered by pdfium at ``dpi``; an image is
read by Pillow, every frame of a multi-page TIFF a page). unstructured's ``hi_res``/``ocr_only`` strategies
are not used: they load layout models from the network. Whatever comes out of here is marked ``ocr=True``
(``ingest.parsed.Piece``), so chunks, hits and citations can say their text was recognised, not read.

Every problem is an ``IngestError`` saying what to do: tesseract missing, a language pack missing, a page
that takes too long.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from citewise.errors import IngestError
from ingest.parsed import Piece

if TYPE_CHECKING:
    from PIL.Image import Image

PAGE_TIMEOUT_S = 120.0  # one page; a page that takes longer fails its file with a reason
_PARAGRAPH = re.compile(r"\n\s*\n")
_BLANK_LEVEL = 250  # a rendered page whose darkest pixel is lighter than this is blank: not OCR'd
# An image whose longer side is shorter than this is enlarged (2x-4x, Lanczos) before OCR: a page saved at 72-96 dpi
# has letters too small for tesseract (word recall on the corpus's page images 0.45-0.95 as is, 0.93-0.99 enlarged;
# BENCHMARKS.md, "OCR on the corpus's scans").
MIN_LONG_SIDE = 1500


@dataclass(frozen=True)
class OcrConfig:
    """What OCR does in one run (picklable: it travels to parser processes). ``languages`` in tesseract's form
    (``eng``, ``eng+deu``)."""

    enabled: bool = True
    languages: str = "eng"
    dpi: int = 300

    @classmethod
    def from_settings(cls, ingest: Any) -> OcrConfig:
        """From ``Settings.ingest`` (``CITEWISE_INGEST__OCR``, ``__OCR_LANGUAGES``, ``__OCR_DPI``)."""
        return cls(bool(ingest.ocr), str(ingest.ocr_languages), int(ingest.ocr_dpi))


def pack_name(language: str) -> str:
    """The Debian/Ubuntu package of a tesseract language (``chi_sim`` -> ``tesseract-ocr-chi-sim``)."""
    return "tesseract-ocr-" + language.lower().replace("_", "-")


@functools.lru_cache(maxsize=8)
def tesseract_version(languages: str) -> str:
    """Tesseract's version, after checking that it runs and has every language of ``languages``."""
    import pytesseract

    try:
        version = str(pytesseract.get_tesseract_version()).split()[0]
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError):
        raise IngestError(
            "this needs OCR, but the tesseract program is not installed (or not on PATH); install it "
            "(Debian/Ubuntu: apt install tesseract-ocr; macOS: brew install tesseract), or set "
            "CITEWISE_INGEST__OCR=false to skip scanned pages and images"
        ) from None
    missing = [lang for lang in languages.split("+") if lang not in installed]
    if missing:
        raise IngestError(
            f"tesseract language pack {missing[0]!r} is not installed (installed: {', '.join(sorted(installed))}); "
            f"install it (Debian/Ubuntu: apt install {' '.join(pack_name(m) for m in missing)}) or change "
            "CITEWISE_INGEST__OCR_LANGUAGES"
        )
    return version


def engine_name(config: OcrConfig) -> str:
    """What a document's ``parser`` records for its OCR'd text, e.g. ``tesseract-5.3.0[eng]``."""
    return f"tesseract-{tesseract_version(config.languages)}[{config.languages}]"


def is_blank(image: Image) -> bool:
    """A page with nothing on it (every pixel near white): nothing to recognise."""
    low = image.convert("L").getextrema()[0]
    return isinstance(low, int | float) and low >= _BLANK_LEVEL


def ocr_pieces(image: Image, config: OcrConfig, page: int) -> list[Piece]:
    """The paragraphs tesseract reads in ``image``, as pieces of ``page`` marked ``ocr``."""
    import pytesseract

    tesseract_version(config.languages)
    if is_blank(image):
        return []
    try:
        text = pytesseract.image_to_string(image, lang=config.languages, timeout=PAGE_TIMEOUT_S)
    except RuntimeError as exc:  # pytesseract's timeout
        if "timeout" not in str(exc).lower():
            raise
        raise IngestError(
            f"OCR of page {page} took longer than {PAGE_TIMEOUT_S:g} s; split the file or lower "
            "CITEWISE_INGEST__OCR_DPI"
        ) from None
    except pytesseract.TesseractError as exc:
        raise IngestError(f"tesseract failed on page {page} ({exc.message.strip()[:200]}); check the image") from None
    text = text.replace("\r\n", "\n").replace("\x0c", "\n").replace("\x00", "")
    return [Piece(p, "NarrativeText", page=page, ocr=True) for p in _PARAGRAPH.split(text) if p.strip()]


def render_page(page: Any, dpi: int) -> Image:
    """A pdfium page as a Pillow image at ``dpi``, in memory of its own (pdfium's bitmap is freed here, so the
    caller's pdfium lock can be released before OCR reads the image)."""
    bitmap = page.render(scale=dpi / 72)
    try:
        return bitmap.to_pil().copy()
    finally:
        bitmap.close()


def enlarged(image: Image) -> Image:
    """``image`` scaled up by a whole factor (at most 4) until its longer side reaches ``MIN_LONG_SIDE``."""
    from PIL import Image as PILImage

    factor = min(4, -(-MIN_LONG_SIDE // max(1, max(image.size))))
    if factor <= 1:
        return image
    return image.resize((image.width * factor, image.height * factor), PILImage.Resampling.LANCZOS)


def image_pieces(path: Any, config: OcrConfig) -> list[Piece]:
    """Every frame of an image file, OCR'd (a multi-page TIFF: one page per frame)."""
    from PIL import Image as PILImage
    from PIL import ImageSequence, UnidentifiedImageError

    if not config.enabled:
        raise IngestError(
            f"image file ({path.suffix.lower()}): its text needs OCR, which is off (CITEWISE_INGEST__OCR=false); "
            "turn it on, or convert the image to a PDF/text with a text layer"
        )
    tesseract_version(config.languages)
    try:
        with PILImage.open(path) as image:
            pieces: list[Piece] = []
            for number, frame in enumerate(ImageSequence.Iterator(image), 1):
                pieces.extend(ocr_pieces(enlarged(frame.convert("RGB")), config, number))
    except UnidentifiedImageError:
        raise IngestError(
            f"not a readable {path.suffix.lower()} image (corrupt, or another format); re-save it as PNG or JPEG"
        ) from None
    except OSError as exc:
        raise IngestError(f"the image cannot be decoded ({exc}); re-save it as PNG or JPEG") from None
    if not pieces:
        raise IngestError(
            f"OCR ({config.languages}) found no text in this image: a photo or a drawing has nothing to index; "
            "if it does show text, check CITEWISE_INGEST__OCR_LANGUAGES or use a sharper scan"
        )
    return pieces
