"""Upload jobs: files saved under the data dir, ingested one job at a time by a background worker thread.

A job moves ``queued → running → done`` (per-file failures are listed as they happen, the job still finishes),
``failed`` (the run itself broke, or ran past ``CITEWISE_API__JOB_TIMEOUT_S``; ``error`` is ``ExcType: message``)
or ``cancelled`` (``DELETE /v1/jobs/{id}``). Jobs are stored in ``<data_dir>/api/jobs.sqlite``: after a restart
queued and running jobs run again (ingestion is incremental, so finished files are skipped; a source sync job
keeps its sources' names, ``Job.sources``, and syncs them again) or, when their uploaded files are gone, end
``failed`` with the reason; a job id is never forgotten while it is kept. A job is visible only to the key that
submitted it and to its tenant's admins. Upload folders are removed when their job ends, whatever the end, and at
start-up for jobs that no longer need them.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from api.errors import Conflict, TooManyJobs
from api.job_store import FINISHED, JobStore
from citewise.errors import CitewiseError, NotFound
from citewise.telemetry import get_logger

log = get_logger(__name__)

# (job, progress callback) -> summary; the callback takes the pipeline's ProgressEvent
Runner = Callable[["Job", Callable[[Any], None]], Any]
SAVE_EVERY_S = 1.0  # progress is written to the job store at most this often (state changes: always)


class JobCancelled(Exception):
    """Raised from the progress callback of a job someone cancelled."""


class JobTimeout(Exception):
    """Raised from the progress callback of a job that ran past its time limit."""


class ServerStopping(Exception):
    """Raised from the progress callback while the server shuts down: the job stays queued for the next start."""


@dataclass
class Job:
    job_id: str
    tenant: str
    folder: Path
    files: dict[str, str]  # saved path -> the uploaded file's name
    acl: tuple[str, ...] = ()  # ACL groups the documents are ingested with
    tags: dict[str, str] = field(default_factory=dict)  # key=value tags of the documents
    state: str = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str | None = None
    owner: str = ""  # key id of the submitter (its tenant's admins see the job too)
    reader_groups: tuple[str, ...] | None = None  # the submitter's ACL groups (None: reads everything)
    cancel_requested: bool = False
    sources: list[str] = field(default_factory=list)  # a source sync job: the sources it syncs (api.sources)

    def public(self) -> dict[str, Any]:
        total = self.progress.get("files_total", len(self.files))
        done = self.progress.get("files_done", total if self.state in FINISHED else 0)
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
                **self._rates(total, done),
            },
            "failures": list(self.failures),
            "result": self.result,
            "error": self.error,
        }

    def _rates(self, total: int, done: int) -> dict[str, float | None]:
        """files/s and chunks/s since the job started, and the seconds left at that pace (the CLI's figures)."""
        if self.started_at is None:
            return {"files_per_s": 0.0, "chunks_per_s": 0.0, "eta_s": None}
        elapsed = max((self.finished_at or time.time()) - self.started_at, 1e-6)
        rate = done / elapsed
        running = self.state == "running" and done < total
        return {
            "files_per_s": round(rate, 3),
            "chunks_per_s": round(self.progress.get("chunks_written", 0) / elapsed, 3),
            "eta_s": round((total - done) / rate, 1) if running and rate > 0 else None,
        }

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"] = str(self.folder)
        return data

    @classmethod
    def from_body(cls, data: dict[str, Any]) -> Job:
        data = dict(data)
        data["folder"] = Path(data["folder"])
        data["acl"] = tuple(data.get("acl") or ())
        groups = data.get("reader_groups")
        data["reader_groups"] = None if groups is None else tuple(groups)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def failure_reason(exc: BaseException) -> str:
    """``ExcType: message`` (a ``CitewiseError``'s message already says what to do)."""
    message = exc.message if isinstance(exc, CitewiseError) else str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class JobManager:
    """Queue of upload jobs and the one worker thread that runs them (ingest writes are serialised).

    ``store`` persists jobs (None: in memory only); ``uploads`` is the folder upload folders live in (only
    folders inside it are ever removed); ``hold`` keeps the worker waiting until ``release()`` (the server calls
    it once the index is open, so resumed jobs do not race the start-up); ``redact`` cleans error texts."""

    def __init__(
        self,
        runner: Runner,
        on_finish: Callable[[Job], None] | None = None,
        keep: int = 1000,
        *,
        store: JobStore | None = None,
        uploads: Path | None = None,
        max_queued: int | None = None,
        timeout_s: float | None = None,
        redact: Callable[[str], str] = lambda text: text,
        hold: bool = False,
    ) -> None:
        self.runner = runner
        self.on_finish = on_finish
        self.keep = keep
        self.store = store
        self.uploads = uploads
        self.max_queued = max_queued
        self.timeout_s = timeout_s
        self.redact = redact
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._stopping = False
        self._released = threading.Event()
        if not hold:
            self._released.set()
        self._restore()
        self._worker = threading.Thread(target=self._work, name="citewise-ingest-jobs", daemon=True)
        self._worker.start()

    # -- public --------------------------------------------------------------------------------------
    def submit(
        self,
        tenant: str,
        folder: Path,
        files: dict[str, str],
        acl: tuple[str, ...] = (),
        *,
        owner: str = "",
        reader_groups: tuple[str, ...] | None = None,
        tags: dict[str, str] | None = None,
        sources: list[str] | None = None,
    ) -> Job:
        """Queue a job; ``TooManyJobs`` (429) when ``max_queued`` jobs are already waiting or running."""
        job = Job(
            job_id=uuid.uuid4().hex,
            tenant=tenant,
            folder=folder,
            files=files,
            acl=tuple(acl),
            tags=dict(tags or {}),
            owner=owner,
            reader_groups=reader_groups,
            sources=list(sources or ()),
        )
        with self._lock:
            self.check_capacity()
            self._jobs[job.job_id] = job
            while len(self._jobs) > self.keep:
                oldest = next(iter(self._jobs.values()))
                if oldest.state not in FINISHED:
                    break
                self._jobs.popitem(last=False)
        self._save(job)
        self._queue.put(job)
        log.info("job.queued", job_id=job.job_id, tenant=tenant, files=len(files))
        return job

    def check_capacity(self) -> None:
        """``TooManyJobs`` when ``max_queued`` jobs are queued or running."""
        if self.max_queued is not None and self.active() >= self.max_queued:
            raise TooManyJobs(
                f"{self.max_queued} upload jobs are already queued or running; wait for one to finish (poll "
                "GET /v1/jobs/{job_id}) or raise CITEWISE_API__MAX_QUEUED_JOBS"
            )

    def active(self) -> int:
        return sum(1 for j in list(self._jobs.values()) if j.state in ("queued", "running"))

    def get(self, job_id: str, tenant: str, owner: str | None = None) -> Job:
        """The job, if it belongs to ``tenant`` and (unless ``owner`` is None, an admin) was submitted by ``owner``;
        anyone else's job is reported exactly as a job that does not exist."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.tenant != tenant or (owner is not None and job.owner != owner):
            raise NotFound(f"no job {job_id!r}; job ids come from POST /v1/ingest")
        return job

    def cancel(self, job_id: str, tenant: str, owner: str | None = None, wait_s: float = 10.0) -> Job:
        """Cancel a queued or running job (``Conflict`` once it has finished). A running job stops at its next
        progress step (after the file or slice of chunks in hand; documents already written stay)."""
        job = self.get(job_id, tenant, owner)
        with self._lock:
            if job.state in FINISHED:
                raise Conflict(f"job {job_id!r} has already finished ({job.state}); nothing to cancel")
            job.cancel_requested = True
            queued = job.state == "queued"
            if queued:
                self._finish(job, "cancelled", None)
        if queued:
            self._cleanup(job)
            self._ended(job)
            return job
        deadline = time.monotonic() + wait_s
        while job.state not in FINISHED and time.monotonic() < deadline:
            time.sleep(0.05)
        return job

    def unfinished(self) -> list[Job]:
        """The queued and running jobs (after a restart: the resumed ones), oldest first."""
        with self._lock:
            return [j for j in self._jobs.values() if j.state in ("queued", "running")]

    def pending(self) -> int:
        return self._queue.qsize()

    def release(self) -> None:
        """Let the worker start on the queue (see ``hold``)."""
        self._released.set()

    def close(self, timeout: float = 30.0) -> None:
        """Stop: the running job is interrupted at its next step and, like the queued ones, kept for the next
        start (without a store they end ``failed``: upload the files again)."""
        self._stopping = True
        self._released.set()
        self._queue.put(None)
        self._worker.join(timeout)
        if self.store is None:
            for job in list(self._jobs.values()):
                if job.state in ("queued", "running"):
                    self._finish(
                        job, "failed", "ServerStopping: the server stopped before this job ran; upload the files again"
                    )
                    self._cleanup(job)
        if self.store is not None:
            self.store.close()

    # -- restore -------------------------------------------------------------------------------------
    def _restore(self) -> None:
        """Read stored jobs; re-queue unfinished ones whose files are still there; sweep orphaned upload folders."""
        if self.store is not None:
            for body in self.store.load():
                try:
                    job = Job.from_body(body)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("job.unreadable", error=repr(exc))
                    continue
                self._jobs[job.job_id] = job
                if job.state in FINISHED:
                    continue
                if job.cancel_requested:
                    self._finish(job, "cancelled", None)
                elif all(Path(p).exists() for p in job.files):
                    job.state, job.started_at = "queued", None
                    self._save(job)
                    self._queue.put(job)
                    log.info("job.resumed", job_id=job.job_id)
                    continue
                else:
                    self._finish(
                        job,
                        "failed",
                        "ServerRestarted: the server stopped while this job was pending and its uploaded files "
                        "are gone; upload the files again",
                    )
        self._sweep()

    def _sweep(self) -> None:
        """Remove upload folders that no queued or running job needs (left by a crash or a kill)."""
        if self.uploads is None or not self.uploads.is_dir():
            return
        needed = {j.folder.resolve() for j in self._jobs.values() if j.state in ("queued", "running")}
        for folder in self.uploads.iterdir():
            if folder.resolve() not in needed:
                log.info("job.orphan_removed", folder=folder.name)
                if folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    folder.unlink(missing_ok=True)

    # -- worker --------------------------------------------------------------------------------------
    def _work(self) -> None:
        self._released.wait()
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.state != "queued":  # cancelled while waiting
                continue
            if self._stopping:
                continue  # stays queued in the store: the next start runs it
            self._run(job)

    def _run(self, job: Job) -> None:
        job.state, job.started_at = "running", time.time()
        self._save(job)
        last_save = [0.0]

        def progress(event: Any) -> None:
            job.progress = {
                "files_total": event.files_total,
                "files_done": event.files_done,
                "files_failed": event.files_failed,
                "chunks_written": event.chunks_written,
                "phase": event.phase,
            }
            job.failures = self._failures(job, getattr(event, "failures", ()))
            if time.monotonic() - last_save[0] >= SAVE_EVERY_S:
                last_save[0] = time.monotonic()
                self._save(job)
            if job.cancel_requested:
                raise JobCancelled()
            if self._stopping and self.store is not None:  # stored: it runs again at the next start
                raise ServerStopping()
            if self.timeout_s is not None and job.started_at and time.time() - job.started_at > self.timeout_s:
                raise JobTimeout()

        state, error = "failed", None
        try:
            summary = self.runner(job, progress)
            job.failures = self._failures(job, summary.failures)
            job.result = {
                "files": {k: getattr(summary.files, k) for k in ("ingested", "changed", "unchanged", "failed")},
                "chunks_added": summary.chunks.added,
                "chunks_removed": summary.chunks.removed,
                "elapsed_s": summary.elapsed_s,
            }
            state = "done"
        except JobCancelled:
            state = "cancelled"
        except ServerStopping:
            job.state = "queued"
            self._save(job)
            log.info("job.interrupted", job_id=job.job_id, note="runs again at the next start")
            return
        except JobTimeout:
            error = (
                f"JobTimeout: the job ran longer than CITEWISE_API__JOB_TIMEOUT_S={self.timeout_s:g} s and was "
                "stopped (files finished so far are ingested); upload fewer or smaller files, or raise the limit"
            )
        except Exception as exc:  # a job must end in a state, whatever happened
            log.error("job.crashed", job_id=job.job_id, error=repr(exc), traceback=traceback.format_exc())
            error = self.redact(failure_reason(exc))
        with self._lock:
            self._finish(job, state, error)
        self._cleanup(job)
        self._ended(job)

    def _failures(self, job: Job, failures: Any) -> list[dict[str, str]]:
        return [{"file": job.files.get(f.path, Path(f.path).name), "reason": self.redact(f.reason)} for f in failures]

    def _finish(self, job: Job, state: str, error: str | None) -> None:
        job.state, job.error, job.finished_at = state, error, time.time()
        self._save(job)
        if self.store is not None:
            for job_id in self.store.trim(self.keep):
                self._jobs.pop(job_id, None)

    def _ended(self, job: Job) -> None:
        if self.on_finish is not None:
            self.on_finish(job)
        log.info("job.finished", job_id=job.job_id, state=job.state, failures=len(job.failures))

    def _cleanup(self, job: Job) -> None:
        """Remove the job's upload folder (only a folder inside ``uploads``: never a folder a caller named)."""
        folder = job.folder.resolve()
        if self.uploads is None or (folder.is_relative_to(self.uploads.resolve()) and folder != self.uploads.resolve()):
            shutil.rmtree(folder, ignore_errors=True)

    def _save(self, job: Job) -> None:
        if self.store is not None:
            self.store.save(job.job_id, job.created_at, job.state, job.body())
