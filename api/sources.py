"""Source syncs in the server: each runs as a job of the one ingest job queue (one writer, as uploads and the
CLI's hand-off), and ``SourceRunner`` (``ingest.sources.runner``) submits them on watches and cron schedules.

A sync already waiting in the queue for a source absorbs further requests for it (a burst of file events is one
sync); one that is running does not, so changes made while it lists are picked up by the next. A sync job keeps
its sources' names in the job store: a sync queued or running when the server stopped runs again after the
restart (``SourceJobs.resume``), as upload jobs do, and carries on where the manifest says it stopped.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.jobs import Job, JobManager
from api.local import LocalIngest, LocalIngests
from citewise.errors import NotFound
from citewise.settings import Settings
from ingest.sources.store import SourceStore


@dataclass
class SourceSyncRun(LocalIngest):
    """A job's run: sync ``names`` (one that cannot be listed fails the job when it is the only one; with several,
    it is listed among the failures and the others go on). ``details`` holds per-source results when done."""

    names: list[str] = field(default_factory=list)
    settings: Settings | None = None
    details: list[dict[str, Any]] | None = None

    def run(self, pipeline: Any, job: Any, progress: Any) -> Any:
        assert self.settings is not None
        from ingest.sources.sync import SourceSync, SyncRun

        store = SourceStore(self.settings.data_dir, pipeline.index.collection)
        try:
            syncer = SourceSync(pipeline, store, self.settings)
            if len(self.names) == 1:
                done = SyncRun((syncer.sync(self.names[0], progress),))
            else:
                done = syncer.sync_many(self.names, progress)
        finally:
            store.close()
        self.details = done.json()
        self.summary = done.summary
        return self.summary


class SourceJobs:
    """Queue source syncs on the server's job manager (``submit``), at most one waiting per source."""

    def __init__(self, settings: Settings, jobs: JobManager, local: LocalIngests, uploads: Path) -> None:
        self.settings = settings
        self.jobs = jobs
        self.local = local
        self.uploads = uploads
        self._waiting: dict[str, tuple[str, str]] = {}  # source name -> (job id, tenant)
        self._lock = threading.Lock()
        for job in jobs.unfinished():  # resumed after a restart: they absorb requests as before it
            if len(job.sources) == 1:
                self._waiting[job.sources[0]] = (job.job_id, job.tenant)

    def resume(self, job: Job) -> SourceSyncRun:
        """The run of a sync job stored before a restart (its sources are in the job): it syncs them again. The
        manifest was committed batch by batch, so what the interrupted run finished is unchanged now."""
        run = SourceSyncRun(paths=[], tenant=job.tenant, names=list(job.sources), settings=self.settings)
        self.local.bind(job.job_id, run)
        return run

    def submit(self, names: list[str], tenant: str, owner: str = "") -> Job:
        """A job syncing ``names`` (``TooManyJobs`` when the queue is full); a single source with a sync still
        queued gets that job back."""
        with self._lock:
            if len(names) == 1 and names[0] in self._waiting:
                job_id, job_tenant = self._waiting[names[0]]
                with contextlib.suppress(NotFound):  # NotFound: trimmed from the kept jobs long ago
                    job = self.jobs.get(job_id, job_tenant)
                    if job.state == "queued":
                        return job
            run = SourceSyncRun(paths=[], tenant=tenant, names=list(names), settings=self.settings)
            folder = self.uploads / f"source-{uuid.uuid4().hex}"  # never created: the job worker removes it
            self.local.add(folder, run)
            job = self.jobs.submit(tenant, folder, {}, (), owner=owner, sources=list(names))
            self.local.bind(job.job_id, run)
            if len(names) == 1:
                self._waiting[names[0]] = (job.job_id, tenant)
            return job
