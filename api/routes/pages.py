"""The citation viewer's PDF pages (caller's tenant and ACL groups, as ``GET /v1/documents/{doc_id}``):

``GET /v1/documents/{doc_id}/pages/{page}.png?width=`` the page rendered by pdfium;
``GET /v1/documents/{doc_id}/pages/{page}?char_start=&char_end=`` the page's size and the boxes of the quote
``text[char_start:char_end]`` (a citation's span in the extracted text) found in the page's own text layer.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from api.auth import Principal
from api.deps import Reader, ReadyDep
from api.pdf_pages import MAX_WIDTH, locate, render_png
from api.routes.documents import DocId, readable_document
from api.schemas import ERRORS, PageOut
from api.services import ReadyServices
from citewise.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/v1", tags=["documents"])
PageNumber = Annotated[int, Path(ge=1, le=1_000_000, description="page number, from 1")]
MAX_QUOTE_CHARS = 20_000


def _original(svc: ReadyServices, doc_id: str, caller: Principal) -> FsPath:
    record = readable_document(svc.docstore, doc_id, caller)
    path = svc.originals.find(record)
    if path is None:
        what = "PDF " if record.file_type == "pdf" else ""
        raise NotFound(
            f"no page images for document {doc_id!r} ({record.file_type}): only PDFs whose original {what}file "
            f"the server keeps have them; read its text with GET /v1/documents/{doc_id}?text=true"
        )
    return path


@router.get(
    "/documents/{doc_id}/pages/{page}.png",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"image/png": {}}, "description": "the rendered page"}},
)
def page_image(
    doc_id: DocId,
    page: PageNumber,
    caller: Reader,
    svc: ReadyDep,
    width: Annotated[int, Query(ge=100, le=MAX_WIDTH, description="pixels")] = 1000,
) -> Response:
    """A page of a PDF document as a PNG image ``width`` pixels wide."""
    png = render_png(_original(svc, doc_id, caller), page, width)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/documents/{doc_id}/pages/{page}", response_model=PageOut, responses=ERRORS)
def page_quote(
    doc_id: DocId,
    page: PageNumber,
    caller: Reader,
    svc: ReadyDep,
    char_start: Annotated[int | None, Query(ge=0, description="the quote's start in the extracted text")] = None,
    char_end: Annotated[int | None, Query(ge=0, description="its end (exclusive)")] = None,
) -> dict[str, Any]:
    """The page's size and the boxes (fractions of the page, from its top-left corner) of the quote
    ``text[char_start:char_end]`` on it; without a span, no boxes."""
    path = _original(svc, doc_id, caller)
    quote = ""
    if char_start is not None or char_end is not None:
        if char_start is None or char_end is None or char_end <= char_start:
            raise InvalidRequest("give both char_start and char_end, with char_end > char_start (a citation's span)")
        if char_end - char_start > MAX_QUOTE_CHARS:
            raise InvalidRequest(f"the span is longer than {MAX_QUOTE_CHARS} characters; give a citation's span")
        text = svc.docstore.get_text(doc_id)
        if char_end > len(text):
            raise InvalidRequest(f"char_end {char_end} is past the end of the document's text ({len(text)} characters)")
        quote = text[char_start:char_end]
    found = locate(path, page, quote)
    return {
        "doc_id": doc_id,
        "page": found.page,
        "pages": found.pages,
        "width_pt": round(found.width_pt, 2),
        "height_pt": round(found.height_pt, 2),
        "image": f"/v1/documents/{doc_id}/pages/{found.page}.png",
        "quote": quote,
        "match": found.match if quote else "none",
        "coverage": found.coverage,
        "boxes": [vars(b) for b in found.boxes],
    }
