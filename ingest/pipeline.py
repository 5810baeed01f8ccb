"""``IngestPipeline``: files -> chunks -> vectors -> index, incremental, resumable, parallel parsing.

Parsing runs in worker processes (a bounded window of files in flight), chunking and encoding in this
process in batches of ``CITEWISE_INGEST__BATCH_CHUNKS`` chunks, writes through ``ingest.steps.write``.
Memory is bounded by the window and the batch, not by the corpus.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from citewise import faults
from citewise.docstore import DocStore
from citewise.encoders import (
    DenseEncoderProtocol,
    SparseEncoderProtocol,
    check_collection_encoder,
    collection_spec,
)
from citewise.errors import InvalidRequest, StorageFull
from citewise.index import Index, IndexPoint
from citewise.settings import Settings
from citewise.storage import full_message, is_disk_full, require_free_space
from citewise.telemetry import get_logger
from citewise.types import DEFAULT_TENANT, acl_allows
from ingest import steps
from ingest.chunking import Chunker
from ingest.discovery import discover, doc_id_for, file_hash, label_for, source_for
from ingest.loaders import OcrConfig, ParsedDocument, parser_version
from ingest.steps import DocContext, Failure, FileTask, Prepared

log = get_logger(__name__)


class Notify(Protocol):
    """Tells the progress callback which phase a run is in and which file it is on."""

    def __call__(self, phase: str, current: str = "") -> None: ...


@dataclass(frozen=True)
class FileCounts:
    ingested: int = 0
    unchanged: int = 0
    changed: int = 0
    removed: int = 0
    failed: int = 0


@dataclass(frozen=True)
class ChunkCounts:
    added: int = 0
    removed: int = 0


@dataclass(frozen=True)
class IngestSummary:
    """What a run did. ``failures`` lists every file that could not be ingested, with the reason."""

    files: FileCounts
    chunks: ChunkCounts
    failures: tuple[Failure, ...]
    elapsed_s: float
    doc_ids: tuple[str, ...] = ()  # documents written (new or changed) by this run

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class ProgressEvent:
    """Sent to the progress callback after each file and each written batch."""

    files_total: int
    files_done: int
    files_failed: int
    chunks_written: int
    elapsed_s: float
    phase: str  # "scan", "ingest", "prune", "done"
    current: str = ""
    failures: tuple[Failure, ...] = ()  # every file that failed so far, as it happens


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class Tally:
    """Files and chunks counted over one run or several (a source sync adds up its batches' runs)."""

    ingested: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    added_chunks: int = 0
    removed_chunks: int = 0
    failures: list[Failure] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


@dataclass
class _Run(Tally):
    """Mutable counters of one run (the summary is built from it at the end)."""

    total: int = 0
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    notify: Notify = lambda phase, current="": None

    def count_written(self, task: FileTask) -> None:
        """``task``'s document is written and committed: a new one, or a changed one replaced."""
        self.done += 1
        self.written.append(task.doc_id)
        if task.existing or task.replaces:
            self.changed += 1
        else:
            self.ingested += 1


def _yield_to_encoder() -> None:
    """Parser processes run at a lower priority: when both want a core, the encoder (the bottleneck) gets it.

    They also ignore Ctrl-C: the terminal sends SIGINT to the whole process group, and the parent alone decides
    what an interrupt means (stop, report, exit 130); a worker's own KeyboardInterrupt traceback only adds noise.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(5)


def resolve_workers(workers: int) -> int:
    """-1 = auto (cores - 1, at least 1, at most 8); 0 = parse in this process; N = N parser processes."""
    return workers if workers >= 0 else max(1, min(8, (os.cpu_count() or 2) - 1))


class IngestPipeline:
    """Ingest files into one collection: its ``index`` (injected, owned by the caller) and ``docstore``.

    ``write_lock`` is held around each batch's writes (docstore pending record → index → commit) and each removal:
    the API passes the lock its DELETE route takes, so a delete waits for the batch in hand instead of landing in
    the middle of it (which left chunks without a docstore record)."""

    def __init__(
        self,
        settings: Settings,
        index: Index,
        dense_encoder: DenseEncoderProtocol,
        sparse_encoder: SparseEncoderProtocol,
        docstore: DocStore,
        *,
        write_lock: contextlib.AbstractContextManager[Any] | None = None,
    ):
        self.settings = settings.ingest
        self.full_settings = settings
        self.data_dir = settings.data_dir
        self.index = index
        self.dense = dense_encoder
        self.sparse = sparse_encoder
        self.docstore = docstore
        self.write_lock = write_lock if write_lock is not None else contextlib.nullcontext()
        self.chunker = Chunker(
            dense_encoder.count_tokens,
            int(dense_encoder.max_seq_length),
            self.settings.chunk_tokens,
            self.settings.chunk_overlap,
        )
        self.versions = {
            "loader": parser_version(),
            "chunker": self.chunker.version,
            "encoder": str(getattr(dense_encoder, "fingerprint", dense_encoder.model_id)),
            "sparse": str(getattr(sparse_encoder, "fingerprint", getattr(sparse_encoder, "model_id", "bm25"))),
        }
        self.max_bytes = int(self.settings.max_file_mb * 1e6)
        self.timeout_s = self.settings.parse_timeout_s
        self.ocr = OcrConfig.from_settings(self.settings)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_size = 0

    def close(self) -> None:
        """Stop the parser processes (kept warm between runs). The index and docstore stay open (not ours)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> IngestPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get_pool(self, workers: int) -> ProcessPoolExecutor:
        if self._pool is None or self._pool_size != workers:
            self.close()
            ctx = multiprocessing.get_context("spawn")  # never fork a process that holds torch threads
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_yield_to_encoder)
            self._pool, self._pool_size = pool, workers
        return self._pool

    # -- public --------------------------------------------------------------------------------------
    def run(
        self,
        paths: Sequence[str | Path],
        *,
        collection: str | None = None,
        tags: Mapping[str, str] | None = None,
        prune: bool = False,
        workers: int | None = None,
        tenant: str = DEFAULT_TENANT,
        acl: Sequence[str] = (),
        progress: ProgressCallback | None = None,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        source_names: Mapping[str, str] | None = None,
        reader_groups: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        spare: Callable[[str], bool] | None = None,
    ) -> IngestSummary:
        """Ingest files and folders. ``source_names`` maps a path to the source to record (e.g. an upload's name),
        ``labels`` a path to what API clients are shown; ``spare(doc_id)`` true: a document of the same source with
        other ACL groups is not replaced (another named source lists it, ``ingest.sources``).

        ``reader_groups`` are the ACL groups of whoever asked (None: an operator or admin, who reads everything):
        replacing or pruning only ever touches documents they may read, and the counts only count those."""
        if collection is not None and collection != self.index.collection:
            raise InvalidRequest(f"this pipeline writes to {self.index.collection!r}, not {collection!r}")
        include = self.settings.include if include is None else include
        exclude = self.settings.exclude if exclude is None else exclude
        files = discover(paths, include, exclude)
        names = {str(Path(k).resolve()): v for k, v in (source_names or {}).items()}
        ctx = DocContext(tenant, tuple(sorted(set(acl))), dict(sorted((tags or {}).items())), self.versions)
        check_collection_encoder(self.index.spec(), self.dense, self.index.collection)
        require_free_space(self.data_dir, self.settings.min_free_mb)  # refuse to start writing on a full disk
        self.index.ensure(collection_spec(self.dense))
        roots = [Path(raw).expanduser().resolve() for raw in paths]
        given = {str(Path(k).resolve()): v for k, v in (labels or {}).items()}
        shown = {str(p): given.get(str(p)) or names.get(str(p)) or label_for(p, roots) for p in files}
        groups = None if reader_groups is None else tuple(reader_groups)
        run = _Run(total=len(files))
        notify = run.notify = _notifier(progress, run)
        notify("scan")
        tasks = self._plan(files, ctx, names, shown, groups, run, spare)
        notify("ingest")
        self._ingest(tasks, ctx, resolve_workers(self.settings.workers if workers is None else workers), run, notify)
        if prune:
            self._prune(paths, files, names, tenant, groups, run)
            notify("prune")
        notify("done")
        summary = IngestSummary(
            FileCounts(run.ingested, run.unchanged, run.changed, run.removed, len(run.failures)),
            ChunkCounts(run.added_chunks, run.removed_chunks),
            tuple(run.failures),
            round(time.perf_counter() - run.started, 3),
            tuple(run.written),
        )
        log.info("ingest.done", files=summary.files, chunks=summary.chunks, elapsed_s=summary.elapsed_s)
        return summary

    def delete_document(self, doc_id: str) -> int:
        """Remove one document's chunks and its stored text; returns the chunks removed."""
        return steps.delete_document(self.index, self.docstore, doc_id)

    # -- stages --------------------------------------------------------------------------------------
    def _plan(
        self,
        files: list[Path],
        ctx: DocContext,
        names: dict[str, str],
        labels: dict[str, str],
        groups: tuple[str, ...] | None,
        run: _Run,
        spare: Callable[[str], bool] | None = None,
    ) -> list[FileTask]:
        """Hash every file and skip the ones whose committed version matches (content, settings, tags).

        A document's id includes its ACL groups; the caller's other documents of the same source (other groups,
        ones it may read) are replaced by the new one; documents it may not read are neither touched nor counted.
        """
        tasks = []
        for path in files:
            source = names.get(str(path), source_for(path))
            doc_id = doc_id_for(source, ctx.tenant, ctx.acl)
            replaces = tuple(
                r.doc_id
                for r in self.docstore.same_source(ctx.tenant, source)
                if r.doc_id != doc_id and acl_allows(r.acl, groups) and not (spare and spare(r.doc_id))
            )
            try:
                stat = path.stat()
                digest = file_hash(path)
            except OSError as exc:
                run.failures.append(Failure(str(path), f"cannot read the file ({exc.strerror}); check permissions"))
                run.done += 1
                continue
            record = self.docstore.get(doc_id)
            if (
                record is not None
                and record.complete
                and record.content_hash == digest
                and record.versions == ctx.versions
                and record.tags == ctx.tags
                and record.acl == ctx.acl
            ):
                self._remove(replaces, run)  # left by a run killed after writing this document
                run.unchanged += 1
                run.done += 1
                continue
            tasks.append(
                FileTask(
                    str(path),
                    source,
                    doc_id,
                    digest,
                    stat.st_size,
                    stat.st_mtime,
                    existing=record is not None and record.content_hash is not None,
                    old_chunks=record.chunks if record else 0,
                    had_record=record is not None,
                    label=labels.get(str(path), path.name),
                    replaces=replaces,
                )
            )
        return tasks

    def _ingest(self, tasks: list[FileTask], ctx: DocContext, workers: int, run: _Run, notify: Notify) -> None:
        batch: list[Prepared] = []
        batch_chunks = 0
        for task, result in self._parsed(tasks, workers):
            prepared = result if isinstance(result, Failure) else steps.prepare(task, result, self.chunker, ctx)
            if isinstance(prepared, Failure):
                run.failures.append(prepared)
                run.done += 1
                notify("ingest", task.path)
                continue
            batch.append(prepared)
            batch_chunks += len(prepared.chunks)
            if batch_chunks >= self.settings.batch_chunks:
                self._write(batch, run)
                notify("ingest", task.path)
                batch, batch_chunks = [], 0
        if batch:
            self._write(batch, run)
            notify("ingest")

    def _write(self, batch: list[Prepared], run: _Run, points: list[IndexPoint] | None = None) -> None:
        """Encode (unless an engine already did: ``points``) and write a batch; count what it did.

        Encoding and upserting go ``batch_chunks`` chunks at a time, with progress after each slice, so one
        huge document neither holds all its vectors in memory nor sits at 0 chunks until it is done."""
        require_free_space(self.data_dir, self.settings.min_free_mb)  # stop between batches, not inside one
        try:
            with self.write_lock:
                self._write_batch(batch, run, points)
        except Exception as exc:
            if isinstance(exc, StorageFull) or not is_disk_full(exc):
                raise
            log.error("ingest.disk_full", error=str(exc))
            raise StorageFull(full_message("a write failed: no space left on the device")) from None
        for p in batch:
            self._remove(p.task.replaces, run)
            run.count_written(p.task)

    def _write_batch(self, batch: list[Prepared], run: _Run, points: list[IndexPoint] | None) -> None:
        if points is None:

            def slice_written(n: int) -> None:
                run.added_chunks += n
                run.notify("ingest")

            run.removed_chunks += steps.write_sliced(
                self.index,
                self.docstore,
                batch,
                lambda chunks: steps.encode(chunks, self.dense, self.sparse),
                self.settings.batch_chunks,
                slice_written,
            )
        else:
            run.removed_chunks += steps.write(self.index, self.docstore, batch, points)
            run.added_chunks += len(points)

    def _remove(self, doc_ids: Sequence[str], run: _Run) -> None:
        """Remove replaced documents (other ACL groups of the same source) once their successor is written."""
        for doc_id in doc_ids:
            with self.write_lock:
                if self.docstore.get(doc_id) is not None:
                    run.removed_chunks += steps.delete_document(self.index, self.docstore, doc_id)

    def _parsed(self, tasks: list[FileTask], workers: int) -> Iterator[tuple[FileTask, ParsedDocument | Failure]]:
        """Parse results in task order; in worker processes when there is more than one file."""
        if len(tasks) <= 1 or workers < 1:
            for task in tasks:
                yield task, steps.parse_file(task, self.max_bytes, self.timeout_s, self.ocr)
            return
        window = max(4, workers * 4)
        pool = self._get_pool(workers)
        pending: deque[tuple[FileTask, Future[ParsedDocument | Failure] | None]] = deque()
        broken = False
        for task in tasks:
            future = None
            if not broken:
                try:
                    future = pool.submit(steps.parse_file, task, self.max_bytes, self.timeout_s, self.ocr)
                except BrokenProcessPool:
                    log.warning("ingest.pool_broken", note="parsing the remaining files in this process")
                    broken = True
            pending.append((task, future))
            if len(pending) >= window:
                yield self._result(*pending.popleft())
        while pending:
            yield self._result(*pending.popleft())
        if broken:
            self.close()

    def _result(
        self, task: FileTask, future: Future[ParsedDocument | Failure] | None
    ) -> tuple[FileTask, ParsedDocument | Failure]:
        """A worker's result; if the pool broke (a worker died or could not start), parse here instead."""
        if future is not None:
            try:
                return task, future.result()
            except BrokenProcessPool:
                self._pool = None  # start a fresh pool next run
        return task, steps.parse_file(task, self.max_bytes, self.timeout_s, self.ocr)

    def _prune(
        self,
        paths: Sequence[str | Path],
        files: list[Path],
        names: dict[str, str],
        tenant: str,
        groups: tuple[str, ...] | None,
        run: _Run,
    ) -> None:
        """Remove documents under ``paths`` whose files are gone (only ones a caller in ``groups`` may read)."""
        seen = {names.get(str(p), source_for(p)) for p in files}
        for raw in paths:
            root = source_for(Path(raw))
            prefix = root if Path(raw).is_file() else root.rstrip(os.sep) + os.sep
            for record in list(self.docstore.iter_all(tenant=tenant, source_prefix=prefix, groups=groups)):
                if record.source in seen or Path(record.source).exists():
                    continue
                faults.hit("prune")
                with self.write_lock:
                    run.removed_chunks += steps.delete_document(self.index, self.docstore, record.doc_id)
                run.removed += 1


def _notifier(progress: ProgressCallback | None, run: _Run) -> Notify:
    def notify(phase: str, current: str = "") -> None:
        if progress is None:
            return
        progress(
            ProgressEvent(
                run.total,
                run.done,
                len(run.failures),
                run.added_chunks,
                round(time.perf_counter() - run.started, 3),
                phase,
                current,
                tuple(run.failures),
            )
        )

    return notify
