"""``SourceSync``: bring a source's documents in line with what its folder or bucket holds now.

1. List the source (one listing; ``SourceUnavailable`` stops the sync before anything is pruned).
2. Objects whose change marker, settings fingerprint and committed document match the manifest are unchanged:
   they cost nothing more. The others go through the ``IngestPipeline`` in batches (object stores: downloaded
   to a temp folder under the data dir first; the document's source is the object's URI, e.g. ``s3://b/k``).
3. Objects the manifest has but the listing lacks are pruned: their documents are deleted unless another source
   still lists them. Nothing else is ever touched: a sync only prunes its own documents.

The manifest is updated per batch, so an interrupted sync resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.docstore import DocStore
from citewise.errors import CitewiseError, NotFound, SourceUnavailable
from citewise.index import Index
from citewise.settings import Settings
from citewise.telemetry import get_logger
from ingest import steps
from ingest.discovery import doc_id_for
from ingest.pipeline import ChunkCounts, FileCounts, IngestPipeline, IngestSummary, ProgressEvent, Tally
from ingest.sources.listing import SourceObject, SourceReader
from ingest.sources.spec import SourceSpec
from ingest.sources.store import KnownObject, SourceStore, SyncStatus
from ingest.steps import Failure

log = get_logger(__name__)
Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class SyncResult:
    """One source's sync: ``objects`` listed (in ``list_s`` seconds) and what the ingestion and pruning did."""

    source: str
    objects: int
    list_s: float
    summary: IngestSummary


@dataclass(frozen=True)
class SyncRun:
    """Several sources synced in turn (``sources sync --all``, a server's job): their results, and the sources
    that could not be synced (``Failure(path="source NAME", reason)``)."""

    results: tuple[SyncResult, ...]
    unavailable: tuple[Failure, ...] = ()

    @property
    def summary(self) -> IngestSummary:
        """All results added up, failures of unavailable sources included (the job's and the CLI's summary)."""
        files = [r.summary.files for r in self.results]
        chunks = [r.summary.chunks for r in self.results]
        return IngestSummary(
            FileCounts(
                ingested=sum(f.ingested for f in files),
                unchanged=sum(f.unchanged for f in files),
                changed=sum(f.changed for f in files),
                removed=sum(f.removed for f in files),
                failed=sum(f.failed for f in files) + len(self.unavailable),
            ),
            ChunkCounts(sum(c.added for c in chunks), sum(c.removed for c in chunks)),
            (*[f for r in self.results for f in r.summary.failures], *self.unavailable),
            round(sum(r.summary.elapsed_s for r in self.results), 3),
        )

    def json(self) -> list[dict[str, Any]]:
        return [result_json(r) for r in self.results]


@dataclass
class _Tally(Tally):
    def add(self, summary: IngestSummary, failures: Sequence[Failure]) -> None:
        self.ingested += summary.files.ingested
        self.changed += summary.files.changed
        self.unchanged += summary.files.unchanged
        self.added_chunks += summary.chunks.added
        self.removed_chunks += summary.chunks.removed
        self.failures.extend(failures)
        self.written.extend(summary.doc_ids)


class SourceSync:
    """Syncs the sources of ``store`` into ``pipeline``'s collection (both owned by the caller)."""

    def __init__(self, pipeline: IngestPipeline, store: SourceStore, settings: Settings) -> None:
        if store.collection != pipeline.index.collection:
            raise ValueError(f"sources of {store.collection!r} cannot sync into {pipeline.index.collection!r}")
        self.pipeline = pipeline
        self.store = store
        self.settings = settings

    def sync(self, name: str, progress: Progress | None = None) -> SyncResult:
        spec = self.store.get(name)
        started, clock = time.time(), time.perf_counter()
        try:
            result = self._sync(spec, progress, clock)
        except CitewiseError as exc:
            self.store.set_status(name, SyncStatus(started, time.time(), error=exc.message))
            raise
        s = result.summary
        self.store.set_status(
            name,
            SyncStatus(
                started,
                time.time(),
                result.objects,
                s.files.ingested,
                s.files.changed,
                s.files.unchanged,
                s.files.removed,
                s.files.failed,
                result.list_s,
                s.elapsed_s,
                None,
                tuple({"path": f.path, "reason": f.reason} for f in s.failures),
            ),
        )
        log.info("sources.synced", source=name, objects=result.objects, files=s.files, list_s=result.list_s)
        return result

    def sync_many(self, names: Sequence[str], progress: Progress | None = None) -> SyncRun:
        """Sync each source in turn; one that cannot be listed is reported as a failure and the others go on."""
        results, failures = [], []
        for name in names:
            try:
                results.append(self.sync(name, progress))
            except (SourceUnavailable, NotFound) as exc:
                log.warning("sources.sync_failed", source=name, reason=exc.message)
                failures.append(Failure(f"source {name}", exc.message))
        return SyncRun(tuple(results), tuple(failures))

    # -- steps ---------------------------------------------------------------------------------------
    def _sync(self, spec: SourceSpec, progress: Progress | None, clock: float) -> SyncResult:
        reader = SourceReader(spec, self.settings)
        listing = reader.objects()
        list_s = round(time.perf_counter() - clock, 3)
        known = self.store.objects(spec.name)
        fingerprint = _fingerprint(spec, self.pipeline.versions)
        todo: list[tuple[SourceObject, str]] = []
        tally = _Tally()
        ids = {obj.key: doc_id_for(obj.uri, spec.tenant, spec.acl) for obj in listing}
        committed = self.pipeline.docstore.committed([known[k].doc_id for k in ids if k in known])
        for obj in listing:
            doc_id, seen = ids[obj.key], known.get(obj.key)
            current = (obj.marker, fingerprint, doc_id)
            if seen is not None and (seen.marker, seen.fingerprint, seen.doc_id) == current and doc_id in committed:
                tally.unchanged += 1
                continue
            todo.append((obj, doc_id))
        notify = _Notifier(progress, len(todo), clock, tally)
        notify("list")
        batch = self.settings.sources.fetch_batch
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            self._ingest(spec, reader, part, fingerprint, tally, notify)
            notify.offset += len(part)
        listed = {o.key for o in listing}
        for key, seen in known.items():
            if key not in listed:
                docs, chunks = self._delete(spec.name, seen.doc_id)
                tally.removed += docs
                tally.removed_chunks += chunks
                self.store.forget(spec.name, [key])
        notify("done")
        summary = IngestSummary(
            FileCounts(tally.ingested, tally.unchanged, tally.changed, tally.removed, len(tally.failures)),
            ChunkCounts(tally.added_chunks, tally.removed_chunks),
            tuple(tally.failures),
            round(time.perf_counter() - clock, 3),
            tuple(tally.written),
        )
        return SyncResult(spec.name, len(listing), list_s, summary)

    def _ingest(
        self,
        spec: SourceSpec,
        reader: SourceReader,
        part: list[tuple[SourceObject, str]],
        fingerprint: str,
        tally: _Tally,
        notify: _Notifier,
    ) -> None:
        """One batch through the pipeline; the objects that did not fail are recorded in the manifest."""
        spare = self._spare(spec.name)
        if spec.is_local:
            paths = {str(Path(o.path).resolve()): o for o, _ in part}
            summary = self._run(spec, list(paths), {p: o.key for p, o in paths.items()}, None, spare, notify)
            self._record(spec, part, fingerprint, summary, paths, tally)
            return
        spool = Path(self.settings.data_dir) / "sources" / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=spool) as tmp:
            paths = {}
            for i, (obj, _) in enumerate(part):
                dest = Path(tmp) / str(i) / obj.key.rsplit("/", 1)[-1]
                dest.parent.mkdir()
                reader.fetch(obj, dest)
                paths[str(dest.resolve())] = obj
            names = {p: o.uri for p, o in paths.items()}
            summary = self._run(spec, list(paths), names, names, spare, notify)
            self._record(spec, part, fingerprint, summary, paths, tally)

    def _run(
        self,
        spec: SourceSpec,
        paths: list[str],
        labels: dict[str, str],
        names: dict[str, str] | None,
        spare: Callable[[str], bool],
        notify: _Notifier,
    ) -> IngestSummary:
        return self.pipeline.run(
            paths,
            tags=spec.tags,
            tenant=spec.tenant,
            acl=spec.acl,
            include=(),
            exclude=(),
            source_names=names,
            labels=labels,
            progress=notify.forward,
            spare=spare,
        )

    def _record(
        self,
        spec: SourceSpec,
        part: list[tuple[SourceObject, str]],
        fingerprint: str,
        summary: IngestSummary,
        paths: dict[str, SourceObject],
        tally: _Tally,
    ) -> None:
        failed: dict[str, Failure] = {}
        for failure in summary.failures:
            obj = paths.get(str(Path(failure.path).resolve()))
            uri = obj.uri if obj is not None else failure.path
            failed[uri] = Failure(uri, failure.reason.replace(failure.path, uri))
        done = [KnownObject(o.key, o.marker, doc_id, fingerprint) for o, doc_id in part if o.uri not in failed]
        self.store.record(spec.name, done)
        tally.add(summary, list(failed.values()))

    def _delete(self, name: str, doc_id: str) -> tuple[int, int]:
        p = self.pipeline
        return delete_unclaimed(self.store, name, doc_id, p.index, p.docstore, p.write_lock)

    def _spare(self, name: str) -> Callable[[str], bool]:
        return lambda doc_id: self.store.claimed_elsewhere(doc_id, name)


def delete_unclaimed(
    store: SourceStore, name: str, doc_id: str, index: Index, docstore: DocStore, lock: Any = None
) -> tuple[int, int]:
    """(documents, chunks) removed: source ``name``'s document, unless another source lists it or it is gone."""
    if store.claimed_elsewhere(doc_id, name) or docstore.get(doc_id) is None:
        return 0, 0
    with lock if lock is not None else contextlib.nullcontext():
        chunks = steps.delete_document(index, docstore, doc_id)
    return 1, chunks


def purge(store: SourceStore, name: str, index: Index, docstore: DocStore, lock: Any = None) -> int:
    """Delete the documents of source ``name`` that no other source lists, then forget the source; returns the
    documents deleted (``sources remove NAME --purge``)."""
    removed = 0
    for obj in store.objects(name).values():
        removed += delete_unclaimed(store, name, obj.doc_id, index, docstore, lock)[0]
        store.forget(name, [obj.key])
    store.remove(name)
    return removed


class _Notifier:
    """The pipeline's progress events of one batch, as events of the whole sync (files counted over batches)."""

    def __init__(self, progress: Progress | None, total: int, clock: float, tally: _Tally) -> None:
        self.progress = progress
        self.total = total
        self.clock = clock
        self.tally = tally  # the batches written so far
        self.offset = 0

    def __call__(self, phase: str) -> None:
        if self.progress is not None:
            elapsed = round(time.perf_counter() - self.clock, 3)
            failed = len(self.tally.failures)
            self.progress(ProgressEvent(self.total, self.offset, failed, self.tally.added_chunks, elapsed, phase))

    def forward(self, event: ProgressEvent) -> None:
        """A batch's event as the sync's. A batch's own ``done`` is not the sync's: it reads ``ingest`` (the
        sync's one ``done`` comes after the last batch and the pruning; two printed "ingest done" before)."""
        if self.progress is not None:
            done, chunks = self.offset + event.files_done, self.tally.added_chunks + event.chunks_written
            failed = len(self.tally.failures) + event.files_failed
            self.progress(
                dataclasses.replace(
                    event,
                    phase="ingest" if event.phase == "done" else event.phase,
                    files_total=self.total,
                    files_done=done,
                    files_failed=failed,
                    chunks_written=chunks,
                    failures=(*self.tally.failures, *event.failures),
                )
            )


def _fingerprint(spec: SourceSpec, versions: dict[str, str]) -> str:
    """What a document's chunks depend on besides its bytes: a change re-ingests every object of the source."""
    key = json.dumps([spec.tenant, list(spec.acl), spec.tags, versions], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def result_json(result: SyncResult) -> dict[str, Any]:
    s = result.summary
    return {
        "source": result.source,
        "objects": result.objects,
        "list_s": result.list_s,
        "files": dataclasses.asdict(s.files),
        "chunks": dataclasses.asdict(s.chunks),
        "failures": [{"path": f.path, "reason": f.reason} for f in s.failures],
        "elapsed_s": s.elapsed_s,
    }
