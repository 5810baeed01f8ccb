"""What the routes use, built once per app at start: index, retriever, docstore, ingest jobs, feedback, answerer.

One index handle is shared by search and ingest (the embedded index allows one opener per process). If the
index or a model cannot be opened, the app still starts: ``/readyz`` says why, and the routes that need it
answer 503 until a later request manages to open it (retried at most every ``RETRY_S`` seconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api.feedback import FeedbackStore
from api.job_store import JobStore
from api.jobs import Job, JobManager
from api.labels import redact_paths
from api.local import LocalIngests
from api.metrics import Metrics
from citewise.docstore import DocStore
from citewise.errors import CitewiseError, IndexUnavailable, IngestError, InvalidRequest, NotFound
from citewise.index import Index, open_index
from citewise.settings import Settings
from citewise.telemetry import get_logger

log = get_logger(__name__)
RETRY_S = 5.0


class Services:
    def __init__(self, settings: Settings, metrics: Metrics, dense: Any = None, sparse: Any = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._dense, self._sparse = dense, sparse
        self.feedback = FeedbackStore(settings.data_dir)
        self.uploads = Path(settings.data_dir) / "api" / "uploads"
        self.index: Index | None = None
        self.retriever: Any = None
        self.docstore: DocStore | None = None  # for the routes (reads, deletes)
        self.pipeline: Any = None  # with its own DocStore connection, used only by the job worker
        self.answerer: Any = None
        self.answer_problem = "not started"
        self.problem: str | None = "not started"
        self.write_lock = threading.Lock()  # every docstore/index write: routes, and the job worker per batch
        self._open_lock = threading.Lock()
        self._last_try = 0.0
        self.retry_s = RETRY_S
        self.write_failure: str | None = None  # the last index write that failed, until one succeeds (/readyz)
        self.local_ingests = LocalIngests()  # `citewise ingest` handed to this server (api.routes.local)
        self.jobs = JobManager(
            self._run_tracked,
            on_finish=lambda job: metrics.jobs.labels(state=job.state).inc(),
            keep=settings.api.keep_jobs,
            store=JobStore(Path(settings.data_dir) / "api" / "jobs.sqlite"),
            uploads=self.uploads,
            max_queued=settings.api.max_queued_jobs,
            timeout_s=settings.api.job_timeout_s,
            redact=self.redact,
            hold=True,
        )

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the index, load the models and warm them up; on failure remember why (see ``/readyz``)."""
        with self._open_lock:
            self._last_try = time.monotonic()
            try:
                self._open()
                self.problem = None
            except CitewiseError as exc:
                self.problem = exc.message
                log.warning("api.not_ready", reason=exc.message)
            finally:
                self.jobs.release()  # resumed jobs run once the first start-up attempt is over

    def _open(self) -> None:
        from citewise.encoders import Bm25Encoder, check_collection_encoder, load_dense_encoder
        from ingest.pipeline import IngestPipeline
        from retrieval import Retriever
        from retrieval.profile import effective_retrieval
        from retrieval.rerank import CrossEncoderReranker

        cfg = self.settings
        if self.index is None:
            self.index = open_index(cfg)
        self.index.count()  # reachable (server) / not locked by another process (embedded)
        dense = (
            self._dense
            if self._dense is not None
            else load_dense_encoder(cfg.encoder, cfg.data_dir, self.index.collection)
        )
        check_collection_encoder(self.index.spec(), dense, self.index.collection)  # no mixed vectors
        sparse = self._sparse if self._sparse is not None else Bm25Encoder()
        self._dense, self._sparse = dense, sparse
        reranker = CrossEncoderReranker(
            cfg.retrieval.reranker_model,
            device=cfg.encoder.device,
            batch_size=cfg.retrieval.rerank_batch_size,
            max_length=cfg.retrieval.rerank_max_length,
        )
        retrieval, origin = effective_retrieval(cfg, self.index.collection)  # the collection's tuned profile
        self.retriever = Retriever(retrieval, self.index, dense, sparse, reranker, origin=origin)
        self.retriever.warm_up()
        if self.docstore is None:
            self.docstore = DocStore(cfg.data_dir, self.index.collection)
        if self.pipeline is None:
            pipeline_store = DocStore(cfg.data_dir, self.index.collection)
            self.pipeline = IngestPipeline(cfg, self.index, dense, sparse, pipeline_store, write_lock=self.write_lock)
        if self.answerer is None:
            self.answerer = self._make_answerer()

    def _make_answerer(self) -> Any:
        """The answerer, or None with ``answer_problem`` saying why (e.g. the configured LLM lacks a setting)."""
        from generation import Answerer

        try:
            answerer = Answerer.from_settings(self.settings, self.retriever)
        except CitewiseError as exc:
            self.answer_problem = exc.message
            log.warning("api.no_answers", reason=exc.message)
            return None
        self.answer_problem = ""
        return answerer

    def close(self) -> None:
        self.jobs.close()
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline.docstore.close()
        if self.docstore is not None:
            self.docstore.close()
        texts = getattr(self.answerer, "texts", None)
        if texts is not None and hasattr(texts, "close"):
            texts.close()
        if self.index is not None:
            self.index.close()
        self.feedback.close()

    # -- access --------------------------------------------------------------------------------------
    def require(self) -> Services:
        """Self, once the index and models are open; else ``IndexUnavailable`` (503) saying why."""
        if self.problem is not None and time.monotonic() - self._last_try >= self.retry_s:
            self.start()
        if self.problem is not None:
            raise IndexUnavailable(f"the index is unavailable: {self.problem}")
        return self

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around index/docstore writes: a failure is remembered (``/readyz`` answers 503 with it) until the next
        write succeeds. Bad requests (unknown id, invalid value) are not failures of the index."""
        try:
            yield
        except (InvalidRequest, NotFound):
            raise
        except Exception as exc:
            reason = exc.message if isinstance(exc, CitewiseError) else f"{type(exc).__name__}: {exc}"
            self.write_failure = reason[:500]
            log.error("api.write_failed", reason=self.write_failure)
            raise
        self.write_failure = None

    def _run_tracked(self, job: Job, progress: Any) -> Any:
        local = self.local_ingests.take(job.folder)
        if local is None and not job.files:  # a `citewise ingest` handed over before a restart: its run is gone
            raise IngestError(
                "this server restarted after `citewise ingest` handed it this run, and the run's options were not "
                "kept: re-run the same command (finished files are not redone)"
            )
        self.require()  # an index that cannot be opened is /readyz's `problem`, not a failed write
        with self.writing():
            if local is not None:
                return local.run(self.pipeline, job, progress)
            return self._run_job(job, progress)

    def _run_job(self, job: Job, progress: Any) -> Any:
        self.require()
        paths = sorted(job.files)
        return self.pipeline.run(
            paths,
            tenant=job.tenant,
            acl=job.acl,
            progress=progress,
            include=(),
            exclude=(),
            source_names={p: f"upload:{name}" for p, name in job.files.items()},
            reader_groups=job.reader_groups,
        )

    def redact(self, text: str) -> str:
        """``text`` without the server's data dir path (error messages shown to API clients)."""
        return redact_paths(text, self.settings)
