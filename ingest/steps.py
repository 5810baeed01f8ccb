"""The pipeline's three steps as plain functions over batches, so any engine (local processes, Ray) can run them.

1. ``parse_file``: file -> ``ParsedDocument`` or ``Failure`` (picklable, runs in worker processes).
2. ``prepare``: ``ParsedDocument`` -> ``Prepared`` (document record, text and ``Chunk`` payloads; needs the
   dense encoder's tokenizer, through the ``Chunker``).
3. ``encode``: chunks -> ``IndexPoint``s (dense + sparse), and ``write``: the crash-safe write of a batch of
   prepared documents (docstore pending -> upsert -> delete stale chunks -> flush -> docstore commit).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citewise import faults
from citewise.docstore import DocStore, DocumentRecord, PendingDocument
from citewise.errors import CitewiseError
from citewise.index import Filter, Index, IndexPoint, Match
from citewise.language import detect
from citewise.types import Chunk, sha256_text, tag_pairs

if TYPE_CHECKING:  # parser processes import this module: no encoder (torch) imports at run time
    from citewise.encoders import DenseEncoderProtocol, SparseEncoderProtocol
from ingest.chunking import Chunker
from ingest.loaders import OcrConfig, ParsedDocument, load_file


@dataclass(frozen=True)
class FileTask:
    """One file to (re)index: where it is, who it is, and its content hash."""

    path: str
    source: str
    doc_id: str
    content_hash: str
    size_bytes: int
    modified_at: float
    existing: bool  # a committed version is already indexed (so this is a change)
    old_chunks: int = 0
    had_record: bool = False  # the docstore knows it (maybe only a pending version from a killed run)
    label: str = ""  # what API clients are shown (relative to the ingested folder, or the upload's name)
    replaces: tuple[str, ...] = ()  # other documents of the same source the caller may read: removed once written


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass(frozen=True)
class DocContext:
    """What every chunk of a run carries besides its own content."""

    tenant: str
    acl: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    task: FileTask
    record: DocumentRecord
    text: str
    chunks: tuple[Chunk, ...]


class ParseTimeout(Exception):
    pass


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """SIGALRM after ``seconds`` (only in a process's main thread, e.g. a parser worker; elsewhere no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise ParseTimeout()

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def parse_file(
    task: FileTask, max_bytes: int | None, timeout_s: float | None = None, ocr: OcrConfig | None = None
) -> ParsedDocument | Failure:
    """Step 1. Never raises for a bad file: returns a ``Failure`` with a reason."""
    faults.hit("parse")
    try:
        with _deadline(timeout_s):
            return load_file(Path(task.path), max_bytes, ocr)
    except ParseTimeout:
        return Failure(
            task.path,
            f"parsing took longer than {timeout_s:g} s; split the file or raise CITEWISE_INGEST__PARSE_TIMEOUT_S",
        )
    except CitewiseError as exc:
        return Failure(task.path, exc.message)
    except MemoryError:
        return Failure(task.path, "ran out of memory while parsing; split the file or raise the memory limit")
    except Exception as exc:  # a parser bug must not stop the batch
        return Failure(task.path, f"parser error ({type(exc).__name__}: {exc}); report it with the file")


def prepare(task: FileTask, parsed: ParsedDocument, chunker: Chunker, ctx: DocContext) -> Prepared | Failure:
    """Step 2. Chunk a parsed document and build its payloads."""
    spans = chunker.chunk(parsed)
    if not spans:
        return Failure(task.path, "no text could be extracted; check the file opens and contains text")
    versions = {**ctx.versions, "parser": parsed.parser}
    doc_lang = detect(parsed.text).lang
    chunks = tuple(
        Chunk(
            doc_id=task.doc_id,
            chunk_index=i,
            text=parsed.text[s.char_start : s.char_end],
            source=task.source,
            title=parsed.title,
            char_start=s.char_start,
            char_end=s.char_end,
            heading_path=s.heading_path,
            page_start=s.page_start,
            page_end=s.page_end,
            element_types=s.element_types,
            file_type=parsed.file_type,
            content_hash=task.content_hash,
            chunk_hash=sha256_text(parsed.text[s.char_start : s.char_end]),
            versions=versions,
            tenant=ctx.tenant,
            acl=ctx.acl,
            tags=dict(ctx.tags),
            modified_at=task.modified_at,
            lang=chunk_language(parsed.text[s.char_start : s.char_end], doc_lang),
            context=s.context,
            ocr=s.ocr,
        )
        for i, s in enumerate(spans)
    )
    record = DocumentRecord(
        doc_id=task.doc_id,
        source=task.source,
        title=parsed.title,
        file_type=parsed.file_type,
        content_hash=None,
        pending_hash=task.content_hash,
        tenant=ctx.tenant,
        acl=ctx.acl,
        tags=dict(ctx.tags),
        versions=dict(ctx.versions),
        chunks=len(chunks),
        size_bytes=task.size_bytes,
        modified_at=task.modified_at,
        label=task.label,
    )
    return Prepared(task, record, parsed.text, chunks)


CHUNK_LANG_CONFIDENCE = 0.9  # a chunk leaves its document's language only when this sure of its own


def chunk_language(text: str, doc_lang: str) -> str:
    """The chunk's language: its own when the detector is sure (a quotation, a translated section), else the
    document's (short chunks are unreliable on their own)."""
    own = detect(text, fallback=doc_lang)
    return own.lang if own.method == "script" or own.confidence >= CHUNK_LANG_CONFIDENCE else doc_lang


def encode(
    chunks: Sequence[Chunk], dense_encoder: DenseEncoderProtocol, sparse_encoder: SparseEncoderProtocol
) -> list[IndexPoint]:
    """Step 3a. Dense and sparse vectors for a batch of chunks: the dense encoder reads each chunk's text, BM25 its
    context and text (``Chunk.sparse_text``) in the chunk's language."""
    faults.hit("encode")
    dense = dense_encoder.encode([c.text for c in chunks])
    sparse = sparse_encoder.encode([c.sparse_text() for c in chunks], [c.lang or None for c in chunks])
    return [IndexPoint(c.id, dense[i], sparse[i], c.payload()) for i, c in enumerate(chunks)]


def write(
    index: Index, docstore: DocStore, batch: Sequence[Prepared], points: Sequence[IndexPoint], upsert_size: int = 256
) -> int:
    """Step 3b. Write a batch so that a kill at any moment is repaired by re-running; returns stale chunks removed.

    Pending records (with the new texts) are stored first; new points overwrite the old ones with the same
    ids (a changed document is never missing from the index); then the old version's leftover chunks are
    deleted; the index is flushed; only then are the records committed.
    """
    faults.hit("docstore_begin")
    docstore.begin([PendingDocument(p.record, p.text) for p in batch])
    removed = write_points(index, batch, points, upsert_size)
    faults.hit("docstore_commit")
    docstore.commit([p.task.doc_id for p in batch])
    return removed


def write_sliced(
    index: Index,
    docstore: DocStore,
    batch: Sequence[Prepared],
    encode_slice: Callable[[Sequence[Chunk]], list[IndexPoint]],
    slice_chunks: int,
    on_slice: Callable[[int], None] | None = None,
) -> int:
    """``write``, encoding and upserting ``slice_chunks`` chunks at a time (memory bounded by the slice, not the
    batch; ``on_slice(points)`` reports each one and may raise to stop: the pending versions are then removed
    again with ``abort``). Returns the stale chunks removed."""
    faults.hit("docstore_begin")
    docstore.begin([PendingDocument(p.record, p.text) for p in batch])
    chunks = [c for p in batch for c in p.chunks]
    try:
        for start in range(0, len(chunks), slice_chunks):
            points = encode_slice(chunks[start : start + slice_chunks])
            for at in range(0, len(points), 256):
                faults.hit("upsert")
                index.upsert(points[at : at + 256])
            if on_slice is not None:
                on_slice(len(points))
    except BaseException:
        abort(index, docstore, batch)
        raise
    removed = write_points(index, batch, [])
    faults.hit("docstore_commit")
    docstore.commit([p.task.doc_id for p in batch])
    return removed


def abort(index: Index, docstore: DocStore, batch: Sequence[Prepared]) -> None:
    """Undo the pending versions of a batch that will not be finished: their points and their records.

    A document re-written with the same content (other settings or tags) shares its point ids with the
    committed version, so it is left pending instead: the next run re-does it."""
    undo = []
    for p in batch:
        record = docstore.get(p.task.doc_id)
        if record is None or record.content_hash == p.task.content_hash:
            continue
        index.delete(Filter(must=(Match("doc_id", p.task.doc_id), Match("content_hash", p.task.content_hash))))
        undo.append(p.task.doc_id)
    flush = getattr(index, "flush", None)
    if callable(flush):
        flush()
    docstore.abort(undo)


def write_points(
    index: Index, batch: Sequence[Prepared], points: Sequence[IndexPoint], upsert_size: int = 256, always: bool = False
) -> int:
    """The index half of ``write``: upsert, delete each document's other versions, flush; returns stale chunks.

    ``always`` deletes other versions even of documents the docstore did not know (for writers that run
    before the docstore records the pending version, e.g. Ray workers writing to a Qdrant server).
    """
    for start in range(0, len(points), upsert_size):
        faults.hit("upsert")
        index.upsert(points[start : start + upsert_size])
    removed = 0
    for p in batch:
        if always or p.task.existing or p.task.had_record:
            faults.hit("delete")
            index.delete(
                Filter(must=(Match("doc_id", p.task.doc_id),), must_not=(Match("content_hash", p.task.content_hash),))
            )
            removed += max(0, p.task.old_chunks - len(p.chunks))
    flush = getattr(index, "flush", None)
    if callable(flush):
        faults.hit("flush")
        flush()
    return removed


def retag_document(index: Index, docstore: DocStore, doc_id: str, tags: dict[str, str]) -> int:
    """Replace a document's tags on its chunks (filterable at once) and in the docstore; returns the chunks
    retagged. ``NotFound`` if unknown. The index goes first: a crash in between leaves the docstore's old tags,
    and running it again finishes the change."""
    docstore.require(doc_id)
    flt = Filter(must=(Match("doc_id", doc_id),))
    index.set_payload(flt, {"tags": dict(tags), "tag_pairs": tag_pairs(tags)})
    docstore.set_tags(doc_id, dict(tags))
    return index.count(flt)


def delete_document(index: Index, docstore: DocStore, doc_id: str) -> int:
    """Remove a document's points and its docstore entry; returns the chunks removed. ``NotFound`` if unknown."""
    docstore.require(doc_id)
    flt = Filter(must=(Match("doc_id", doc_id),))
    removed = index.count(flt)
    faults.hit("delete")
    index.delete(flt)
    flush = getattr(index, "flush", None)
    if callable(flush):
        faults.hit("flush")
        flush()
    faults.hit("docstore_commit")
    docstore.delete(doc_id)
    return removed
