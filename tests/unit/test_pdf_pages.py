"""``api.pdf_pages`` on a real PDF: the quote's boxes follow the page's rotation; a quote that only
partly is on the page is boxed in part; bad page numbers and widths are refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from api.pdf_pages import Box, locate, render_png
from citewise.errors import InvalidRequest, NotFound
from tests.api_support import corpus_file

PDF = "pdf/layout-parser-paper-fast.pdf"
QUOTE = "Recent advances in document image analysis (DIA) have been primarily driven by"


def _crop(image: Image.Image, box: Box) -> Image.Image:
    width, height = image.size
    area = (box.left * width, box.top * height, (box.left + box.width) * width, (box.top + box.height) * height)
    return image.crop((round(area[0]), round(area[1]), round(area[2]), round(area[3])))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_the_boxes_follow_the_page_rotation(tmp_path: Path, rotation: int) -> None:
    """The quote's box cut from the turned page, turned back, looks like the box cut from the upright page."""
    import pypdfium2 as pdfium
    from PIL import ImageChops, ImageStat

    upright = locate(corpus_file(PDF), 1, QUOTE)
    reference = _crop(Image.open(io.BytesIO(render_png(corpus_file(PDF), 1, 1000))).convert("L"), upright.boxes[0])
    pdf = pdfium.PdfDocument(str(corpus_file(PDF)))
    pdf[0].set_rotation(rotation)
    turned_pdf = tmp_path / "turned.pdf"
    pdf.save(str(turned_pdf))
    pdf.close()
    turned = locate(turned_pdf, 1, QUOTE)
    assert turned.match == "exact" and (turned.width_pt, turned.height_pt) == (
        (upright.width_pt, upright.height_pt) if rotation == 180 else (upright.height_pt, upright.width_pt)
    )
    width = round(1000 * turned.width_pt / upright.width_pt)
    image = Image.open(io.BytesIO(render_png(turned_pdf, 1, width))).convert("L")

    def distance(crop: Image.Image) -> float:
        return float(ImageStat.Stat(ImageChops.difference(crop.resize(reference.size), reference)).mean[0])

    ours = distance(_crop(image, turned.boxes[0]).rotate(rotation, expand=True))
    unturned = distance(_crop(image, upright.boxes[0]))  # the upright box, as if the rotation were ignored
    assert ours < 30 and ours * 1.5 < unturned, (ours, unturned)


def test_a_quote_running_onto_the_next_page_is_boxed_in_part() -> None:
    text_end = "The library is publicly available at https://layout-parser.github.io."
    found = locate(
        corpus_file(PDF), 1, text_end + " Keywords: Document Image Analysis nothing like this is on the page"
    )
    assert found.match == "partial" and 0.3 < found.coverage < 1.0 and found.boxes
    assert locate(corpus_file(PDF), 1, "zebra xylophone quartz").match == "none"


def test_bad_pages_and_widths_are_refused() -> None:
    with pytest.raises(NotFound, match="out of range"):
        locate(corpus_file(PDF), 3, QUOTE)
    with pytest.raises(InvalidRequest, match="width"):
        render_png(corpus_file(PDF), 1, 5000)
