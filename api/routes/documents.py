"""``GET /v1/documents``, ``GET|PATCH|DELETE /v1/documents/{doc_id}`` (caller's tenant)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.auth import Principal
from api.deps import Reader, ReadyDep, Writer
from api.labels import public_source
from api.routes.ingest import upload_tags
from api.schemas import ERRORS, DeletedOut, DocumentList, DocumentOut, RetaggedOut, RetagIn
from api.services import ReadyServices
from citewise.docstore import DocStore, DocumentRecord
from citewise.errors import InvalidRequest, NotFound
from citewise.index import Filter, Index, Match
from citewise.settings import Settings
from citewise.types import acl_allows

router = APIRouter(prefix="/v1", tags=["documents"])
DocId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")]


def _out(record: DocumentRecord, settings: Settings, text: str | None = None) -> dict[str, Any]:
    return {
        "doc_id": record.doc_id,
        "source": public_source(record.source, record.label, settings),
        "title": record.title,
        "file_type": record.file_type,
        "chunks": record.chunks,
        "size_bytes": record.size_bytes,
        "complete": record.complete,
        "tags": record.tags,
        "modified_at": record.modified_at,
        "ingested_at": record.ingested_at,
        "text": text,
    }


def readable_document(store: DocStore, doc_id: str, caller: Principal) -> DocumentRecord:
    """The document, if the caller may read it; another tenant's, or one outside the caller's ACL groups, is
    reported as not found."""
    record = store.get(doc_id)
    if record is None or record.tenant != caller.tenant or not acl_allows(record.acl, caller.groups):
        raise NotFound(f"no document {doc_id!r}; see GET /v1/documents")
    return record


MAX_SPAN_CHARS = 20_000  # the most text one span read returns (the MCP ``get_document`` tool)


def read_span(
    services: ReadyServices, caller: Principal, doc_id: str, char_start: int = 0, char_end: int | None = None
) -> dict[str, Any]:
    """``[char_start, char_end)`` of a document's extracted text (the text chunk and citation spans index into),
    if the caller may read it, with the pages it lies on and whether OCR read any of it (from the chunks over
    the span); at most ``MAX_SPAN_CHARS`` characters, ``InvalidRequest`` saying what fits."""
    store, settings = services.docstore, services.settings
    record = readable_document(store, doc_id, caller)
    text = store.get_text(doc_id)
    end = min(len(text), char_start + MAX_SPAN_CHARS) if char_end is None else char_end
    if not 0 <= char_start <= end <= len(text):
        raise InvalidRequest(
            f"span [{char_start}, {end}) is outside the document's text: 0 <= char_start <= char_end <= {len(text)}"
        )
    if end - char_start > MAX_SPAN_CHARS:
        raise InvalidRequest(
            f"span of {end - char_start} characters is longer than {MAX_SPAN_CHARS}; read it in parts "
            f"(e.g. char_end={char_start + MAX_SPAN_CHARS})"
        )
    pages, ocr = _span_origin(services.index, record, char_start, end)
    return {
        **{k: v for k, v in _out(record, settings).items() if k != "text"},
        "length": len(text),
        "char_start": char_start,
        "char_end": end,
        "pages": pages,
        "ocr": ocr,
        "text": text[char_start:end],
    }


def _span_origin(index: Index, record: DocumentRecord, start: int, end: int) -> tuple[list[int], bool]:
    """The pages of the document's chunks that overlap ``[start, end)``, and whether any of them was OCR'd."""
    must = (Match("doc_id", record.doc_id), Match("content_hash", record.content_hash or ""))
    pages: set[int] = set()
    ocr, offset = False, None
    while True:
        records, offset = index.scroll(Filter(must=must), limit=256, offset=offset)
        for point in records:
            p = point.payload
            if p["char_start"] < max(end, start + 1) and start < p["char_end"]:
                first, last = p.get("page_start"), p.get("page_end")
                pages.update(range(first, (last or first) + 1) if first is not None else ())
                ocr = ocr or bool(p.get("ocr"))
        if offset is None:
            return sorted(pages), ocr


@router.get("/documents", response_model=DocumentList, responses=ERRORS)
def list_documents(
    caller: Reader,
    services: ReadyDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    source_prefix: Annotated[str | None, Query(max_length=1000, description="only sources starting with this")] = None,
) -> dict[str, Any]:
    """The caller's documents, ordered by source."""
    store = services.docstore
    records = store.list(caller.tenant, offset, limit, source_prefix, caller.groups)
    total = store.count(caller.tenant, source_prefix, caller.groups)
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "documents": [_out(r, services.settings) for r in records],
    }


@router.get("/documents/{doc_id}", response_model=DocumentOut, responses=ERRORS)
def get_document(
    doc_id: DocId,
    caller: Reader,
    services: ReadyDep,
    text: Annotated[bool, Query(description="include the extracted text (chunk spans index into it)")] = False,
) -> dict[str, Any]:
    store = services.docstore
    record = readable_document(store, doc_id, caller)
    return _out(record, services.settings, store.get_text(doc_id) if text else None)


@router.patch("/documents/{doc_id}", response_model=RetaggedOut, responses=ERRORS)
def retag_document(doc_id: DocId, body: RetagIn, caller: Writer, svc: ReadyDep) -> dict[str, Any]:
    """Replace the document's tags on all its chunks at once (``tag`` filters see them immediately)."""
    from ingest.steps import retag_document as retag

    tags = upload_tags(body.tags)
    readable_document(svc.docstore, doc_id, caller)
    with svc.write_lock, svc.writing():
        chunks = retag(svc.index, svc.docstore, doc_id, tags)
    return {"doc_id": doc_id, "tags": tags, "chunks": chunks}


@router.delete("/documents/{doc_id}", response_model=DeletedOut, responses=ERRORS)
def delete_document(doc_id: DocId, caller: Writer, svc: ReadyDep) -> dict[str, Any]:
    """Remove the document's chunks from the index and its stored text."""
    from ingest.steps import delete_document as delete

    readable_document(svc.docstore, doc_id, caller)
    with svc.write_lock, svc.writing():
        removed = delete(svc.index, svc.docstore, doc_id)
    svc.originals.remove(doc_id)
    return {"doc_id": doc_id, "deleted_chunks": removed}
