"""Upload jobs: files saved under the data dir, ingested one job at a time by a background worker thread.

A job moves ``queued → running → done`` (per-file failures are listed, the job still finishes) or
``failed`` (the run itself broke, e.g. the index became unavailable). Jobs live in memory: after a restart
their ids are unknown (the ingested documents, of course, remain).
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citewise.errors import CitewiseError, NotFound
from citewise.telemetry import get_logger

log = get_logger(__name__)

# (job, progress callback) -> summary; the callback takes the pipeline's ProgressEvent
Runner = Callable[["Job", Callable[[Any], None]], Any]


@dataclass
class Job:
    job_id: str
    tenant: str
    folder: Path
    files: dict[str, str]  # saved path -> the uploaded file's name
    acl: tuple[str, ...] = ()  # ACL groups the documents are ingested with
    state: str = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None

    def public(self) -> dict[str, Any]:
        total = self.progress.get("files_total", len(self.files))
        done = self.progress.get("files_done", total if self.state in ("done", "failed") else 0)
        return {
            "job_id": self.job_id,
            "state": self.state,
            "files": sorted(self.files.values()),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": {
                "files_total": total,
                "files_done": done,
                "files_failed": self.progress.get("files_failed", len(self.failures)),
                "chunks_written": self.progress.get("chunks_written", 0),
                "fraction": round(done / total, 4) if total else 1.0,
                "phase": self.progress.get("phase", self.state),
            },
            "failures": list(self.failures),
            "result": self.result,
            "error": self.error,
        }


class JobManager:
    """Queue of upload jobs and the one worker thread that runs them (ingest writes are serialised)."""

    def __init__(self, runner: Runner, on_finish: Callable[[Job], None] | None = None, keep: int = 1000) -> None:
        self.runner = runner
        self.on_finish = on_finish
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="citewise-ingest-jobs", daemon=True)
        self._worker.start()

    def submit(self, tenant: str, folder: Path, files: dict[str, str], acl: tuple[str, ...] = ()) -> Job:
        job = Job(job_id=uuid.uuid4().hex, tenant=tenant, folder=folder, files=files, acl=acl)
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > self.keep:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._queue.put(job)
        log.info("job.queued", job_id=job.job_id, tenant=tenant, files=len(files))
        return job

    def get(self, job_id: str, tenant: str) -> Job:
        """The job, if it belongs to ``tenant`` (another tenant's job is reported as not found)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.tenant != tenant:
            raise NotFound(f"no job {job_id!r}; job ids come from POST /v1/ingest (jobs are kept until a restart)")
        return job

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Finish the running job; jobs still queued end ``failed`` (upload them again after the restart)."""
        self._stopping = True
        self._queue.put(None)
        self._worker.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._stopping:
                job.state, job.error = "failed", "the server stopped before this job ran; upload the files again"
                job.finished_at = time.time()
                shutil.rmtree(job.folder, ignore_errors=True)
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        job.state, job.started_at = "running", time.time()

        def progress(event: Any) -> None:
            job.progress = {
                "files_total": event.files_total,
                "files_done": event.files_done,
                "files_failed": event.files_failed,
                "chunks_written": event.chunks_written,
                "phase": event.phase,
            }

        try:
            summary = self.runner(job, progress)
            job.failures = [
                {"file": job.files.get(f.path, Path(f.path).name), "reason": f.reason} for f in summary.failures
            ]
            job.result = {
                "files": {k: getattr(summary.files, k) for k in ("ingested", "changed", "unchanged", "failed")},
                "chunks_added": summary.chunks.added,
                "chunks_removed": summary.chunks.removed,
                "elapsed_s": summary.elapsed_s,
            }
            job.state = "done"
        except CitewiseError as exc:
            job.state, job.error = "failed", exc.message
        except Exception as exc:  # a job must end in a state, whatever happened
            log.error("job.crashed", job_id=job.job_id, error=repr(exc), traceback=traceback.format_exc())
            job.state, job.error = "failed", f"the ingest run failed unexpectedly ({type(exc).__name__})"
        finally:
            job.finished_at = time.time()
            shutil.rmtree(job.folder, ignore_errors=True)
            if self.on_finish is not None:
                self.on_finish(job)
            log.info("job.finished", job_id=job.job_id, state=job.state, failures=len(job.failures))
