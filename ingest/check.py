"""``citewise index check``: does the index hold exactly what the docstore says, and repair it where not.

The docstore is the reference. For each document it records the committed version (``content_hash``),
its chunk count and its extracted text. The index is consistent when, for every complete document, chunks
``0..chunks-1`` are there under their point ids, of that version, quoting the stored text exactly (text
and ``chunk_hash``), and nothing else is: no chunk of an older version, no chunk beyond the count, no
point of a document the docstore does not know (an orphan), and no document left pending by a stopped run.

Problems, by ``kind``:

- ``pending``: a run stopped before committing this version (its text is stored; the index may hold part of it)
- ``missing``: chunks of the committed version that are not in the index (lost chunks)
- ``stale``: chunks of another version of the document (left behind)
- ``extra``: chunks of the version beyond its chunk count, or under the wrong point id (duplicates)
- ``mismatch``: a chunk whose text or ``chunk_hash`` is not the stored text at its span
- ``orphan``: points of a document the docstore does not know
- ``no_text``: the docstore has no text for the committed version (nothing to check the chunks against)

``repair`` deletes stale, extra and orphan points, re-encodes mismatched chunks from the stored text,
and rebuilds pending documents and documents with missing chunks: from their source file when it still
has that version's content hash, else from the stored text (re-chunked as paragraphs: the text and the
citations stay exact; headings and pages of the original parse are lost). What it could not repair stays
in the report.

Cost: one filtered scroll per document (payload index on ``doc_id``) plus one facet over ``doc_id`` for
orphans (up to 100,000 distinct ids per check), so memory is bounded by the largest document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.docstore import DocStore, DocumentRecord
from citewise.errors import NotFound
from citewise.index import Filter, Index, Match, Record
from citewise.telemetry import get_logger
from citewise.types import Chunk, point_id, sha256_text
from ingest import steps
from ingest.discovery import file_hash
from ingest.loaders import Element, ParsedDocument
from ingest.steps import DocContext, FileTask

log = get_logger(__name__)

KINDS = ("pending", "missing", "stale", "extra", "mismatch", "orphan", "no_text")
LOST_KINDS = ("missing",)
DUPLICATE_KINDS = ("stale", "extra", "orphan")
PARAGRAPH = "\n\n"  # how loaders join element texts (ingest.loaders.assemble)


@dataclass(frozen=True)
class Problem:
    kind: str
    doc_id: str
    source: str
    detail: str
    points: int = 0  # chunks concerned
    point_ids: tuple[str, ...] = ()
    repaired: bool = False


@dataclass(frozen=True)
class CheckReport:
    """The outcome of a check (and of a repair: ``repaired`` problems are listed with ``repaired=True``)."""

    collection: str
    documents: int
    pending: int
    points: int  # in the index
    expected_points: int  # the sum of the complete documents' chunk counts
    problems: tuple[Problem, ...]

    @property
    def lost(self) -> int:
        return sum(p.points for p in self.problems if p.kind in LOST_KINDS and not p.repaired)

    @property
    def duplicated(self) -> int:
        return sum(p.points for p in self.problems if p.kind in DUPLICATE_KINDS and not p.repaired)

    @property
    def unrepaired(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.repaired)

    @property
    def clean(self) -> bool:
        return not self.unrepaired

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "clean": self.clean,
            "documents": self.documents,
            "pending": self.pending,
            "points": self.points,
            "expected_points": self.expected_points,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "repaired": sum(1 for p in self.problems if p.repaired),
            "problems": [dataclasses.asdict(p) for p in self.problems],
        }


@dataclass
class _DocCheck:
    """One document's points sorted into good, bad (to delete), mismatched (to re-encode) and missing."""

    record: DocumentRecord
    good: dict[int, Record]
    bad: dict[str, str]  # point id -> kind (stale, extra)
    mismatched: list[Record]
    missing: list[int]


class IndexChecker:
    """Compares ``index`` with ``docstore`` (both opened by the caller) and repairs what it can."""

    def __init__(self, index: Index, docstore: DocStore, page_size: int = 256) -> None:
        self.index = index
        self.docstore = docstore
        self.page_size = page_size

    # -- check ---------------------------------------------------------------------------------------
    def check(self) -> CheckReport:
        problems: list[Problem] = []
        documents = pending = expected = 0
        known: set[str] = set()
        for record in self.docstore.iter_all():
            documents += 1
            known.add(record.doc_id)
            if not record.complete:
                pending += 1
                problems.append(self._pending_problem(record))
                continue
            expected += record.chunks
            problems.extend(self._problems(self._check_document(record)))
        for doc_id, count in sorted(self.index.distinct("doc_id").items()):
            if doc_id not in known:
                points = self._points(doc_id)
                source = str(points[0].payload.get("source", "")) if points else ""
                detail = "points of a document the docstore does not know"
                problems.append(Problem("orphan", doc_id, source, detail, count, tuple(p.id for p in points)))
        return CheckReport(self.index.collection, documents, pending, self.index.count(), expected, tuple(problems))

    def _pending_problem(self, record: DocumentRecord) -> Problem:
        points = self.index.count(Filter(must=(Match("doc_id", record.doc_id),)))
        return Problem(
            "pending",
            record.doc_id,
            record.source,
            f"a run stopped before committing this version ({points} points in the index); re-run the ingest or repair",
            points,
        )

    def _points(self, doc_id: str) -> list[Record]:
        """Every point of one document (one document's chunks fit in memory; the collection need not)."""
        flt = Filter(must=(Match("doc_id", doc_id),))
        out: list[Record] = []
        offset = None
        while True:
            page, offset = self.index.scroll(flt, limit=self.page_size, offset=offset)
            out.extend(page)
            if offset is None:
                return out

    def _check_document(self, record: DocumentRecord) -> _DocCheck | Problem:
        try:
            text = self.docstore.get_text(record.doc_id, record.content_hash)
        except NotFound:
            return Problem("no_text", record.doc_id, record.source, "no stored text for the committed version")
        result = _DocCheck(record, {}, {}, [], [])
        for point in self._points(record.doc_id):
            payload = point.payload
            index = int(payload.get("chunk_index", -1))
            if payload.get("content_hash") != record.content_hash:
                result.bad[point.id] = "stale"
            elif not 0 <= index < record.chunks or point.id != point_id(record.doc_id, index):
                result.bad[point.id] = "extra"
            else:
                result.good[index] = point
                piece = text[int(payload.get("char_start", 0)) : int(payload.get("char_end", 0))]
                if payload.get("text") != piece or payload.get("chunk_hash") != sha256_text(piece):
                    result.mismatched.append(point)
        result.missing = [i for i in range(record.chunks) if i not in result.good]
        return result

    @staticmethod
    def _problems(result: _DocCheck | Problem) -> list[Problem]:
        if isinstance(result, Problem):
            return [result]
        r = result.record
        out = []
        for kind, detail in (
            ("stale", "chunks of another version of the document"),
            ("extra", "chunks beyond the document's chunk count or under the wrong id"),
        ):
            ids = tuple(sorted(i for i, k in result.bad.items() if k == kind))
            if ids:
                out.append(Problem(kind, r.doc_id, r.source, detail, len(ids), ids))
        if result.mismatched:
            ids = tuple(p.id for p in result.mismatched)
            out.append(
                Problem("mismatch", r.doc_id, r.source, "chunk text differs from the stored text", len(ids), ids)
            )
        if result.missing:
            detail = f"{len(result.missing)} of {r.chunks} chunks are not in the index"
            ids = tuple(point_id(r.doc_id, i) for i in result.missing)
            out.append(Problem("missing", r.doc_id, r.source, detail, len(result.missing), ids))
        return out

    # -- repair --------------------------------------------------------------------------------------
    def repair(self, report: CheckReport, pipeline: Any) -> CheckReport:
        """Fix what ``report`` found with ``pipeline`` (an ``IngestPipeline`` on the same index and docstore:
        its chunker, encoders and versions); returns the report with each problem marked repaired or not."""
        by_doc: dict[str, list[Problem]] = {}
        for p in report.problems:
            by_doc.setdefault(p.doc_id, []).append(p)
        fixed: list[Problem] = []
        for doc_id, problems in by_doc.items():
            try:
                done = self._repair_document(doc_id, problems, pipeline)
            except Exception as exc:  # one document's failure must not stop the others
                log.error("check.repair_failed", doc_id=doc_id, error=repr(exc))
                done = False
            fixed.extend(dataclasses.replace(p, repaired=done and p.kind != "no_text") for p in problems)
        flush = getattr(self.index, "flush", None)
        if callable(flush):
            flush()
        return dataclasses.replace(report, problems=tuple(fixed), points=self.index.count())

    def _repair_document(self, doc_id: str, problems: Sequence[Problem], pipeline: Any) -> bool:
        kinds = {p.kind for p in problems}
        if kinds == {"orphan"} or kinds <= {"stale", "extra"}:
            self.index.delete_ids([i for p in problems for i in p.point_ids])
            return True
        record = self.docstore.get(doc_id)
        if record is None or "no_text" in kinds:
            return False
        if kinds <= {"stale", "extra", "mismatch"}:
            self.index.delete_ids([i for p in problems if p.kind != "mismatch" for i in p.point_ids])
            self._reencode(record, [i for p in problems if p.kind == "mismatch" for i in p.point_ids], pipeline)
            return True
        self._rebuild(record, pipeline)  # pending, or chunks missing
        return True

    def _reencode(self, record: DocumentRecord, ids: Sequence[str], pipeline: Any) -> None:
        """Chunks whose text went wrong: cut again from the stored text at their span, encode, overwrite."""
        text = self.docstore.get_text(record.doc_id, record.content_hash)
        chunks = []
        for point in self.index.retrieve(list(ids)):
            chunk = Chunk.from_payload(point.payload)
            piece = text[chunk.char_start : chunk.char_end]
            chunks.append(dataclasses.replace(chunk, text=piece, chunk_hash=sha256_text(piece)))
        points = steps.encode(chunks, pipeline.dense, pipeline.sparse)
        self.index.upsert(points)

    def _rebuild(self, record: DocumentRecord, pipeline: Any) -> None:
        """Write the document's version again, as an ingest would: from its source file when that still has
        the version's content, else from the stored text; then commit it in the docstore."""
        version = record.pending_hash or record.content_hash
        assert version is not None
        task = FileTask(
            record.source,
            record.source,
            record.doc_id,
            version,
            record.size_bytes,
            record.modified_at or 0.0,
            existing=True,
            old_chunks=record.chunks,
            had_record=True,
        )
        ctx = DocContext(record.tenant, record.acl, dict(record.tags), pipeline.versions)
        parsed = self._from_source(task, pipeline) or self._from_text(record, version)
        prepared = steps.prepare(task, parsed, pipeline.chunker, ctx)
        if isinstance(prepared, steps.Failure):
            raise RuntimeError(prepared.reason)
        keep = {c.id for c in prepared.chunks}
        self.index.delete_ids([p.id for p in self._points(record.doc_id) if p.id not in keep])
        points = steps.encode(list(prepared.chunks), pipeline.dense, pipeline.sparse)
        steps.write(self.index, self.docstore, [prepared], points)

    @staticmethod
    def _from_source(task: FileTask, pipeline: Any) -> ParsedDocument | None:
        path = Path(task.source)
        try:
            if not path.is_file() or file_hash(path) != task.content_hash:
                return None
        except OSError:
            return None
        parsed = steps.parse_file(
            dataclasses.replace(task, path=str(path)), pipeline.max_bytes, pipeline.timeout_s, pipeline.ocr
        )
        return None if isinstance(parsed, steps.Failure) else parsed

    def _from_text(self, record: DocumentRecord, version: str) -> ParsedDocument:
        text = self.docstore.get_text(record.doc_id, version)
        elements, start = [], 0
        for part in text.split(PARAGRAPH):
            if part.strip():
                elements.append(Element(start, start + len(part), "NarrativeText", None, ()))
            start += len(part) + len(PARAGRAPH)
        return ParsedDocument(record.source, record.file_type, record.title, text, tuple(elements), "docstore-text")
