"""What the routes use, built once per app at start: index, retriever, docstore, ingest jobs, feedback, answerer.

One index handle is shared by search and ingest (the embedded index allows one opener per process). If the
index or a model cannot be opened, the app still starts: ``/readyz`` says why, and the routes that need it
answer 503 until a later request manages to open it (retried at most every ``RETRY_S`` seconds).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from api.budgets import Budgets
from api.cache import AnswerCache
from api.experiments import Experiment, ExperimentStore
from api.feedback import FeedbackStore
from api.job_store import JobStore
from api.jobs import Job, JobManager
from api.labels import redact_paths
from api.local import LocalIngests
from api.metrics import Metrics
from api.originals import Originals
from api.signals import ReaskWatch, SignalStore
from api.sources import SourceJobs
from citewise.conversations import ConversationStore
from citewise.docstore import DocStore
from citewise.encoders.base import DenseEncoderProtocol
from citewise.errors import CitewiseError, IndexUnavailable, IngestError, InvalidRequest, ModelUnavailable, NotFound
from citewise.index import Index, open_index
from citewise.settings import Settings
from citewise.telemetry import get_logger
from ingest.sources.runner import SourceRunner
from ingest.sources.store import SourceStore

if TYPE_CHECKING:  # the stages load models and are imported when the services open (api.services.Services._open)
    from citewise.encoders.sparse import Bm25Encoder
    from generation import Answerer
    from ingest.pipeline import IngestPipeline, IngestSummary, ProgressCallback
    from retrieval import Retriever

log = get_logger(__name__)
RETRY_S = 5.0


class Services:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        dense: DenseEncoderProtocol | None = None,
        sparse: Bm25Encoder | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._dense, self._sparse = dense, sparse
        self.feedback = FeedbackStore(settings.data_dir)
        self.conversations = ConversationStore(settings.data_dir, settings.conversations)
        self.cache = AnswerCache(settings.answer_cache)  # POST /v1/ask (api.routes.ask)
        self.budgets = Budgets(settings.budgets, settings.data_dir)
        self.experiment: Experiment | None = None  # set by create_app with the store below (api.experiments)
        self.experiments: ExperimentStore | None = None
        self.signals = SignalStore(settings.data_dir)  # implicit feedback (api.signals)
        self.reasks = ReaskWatch()
        self.uploads = Path(settings.data_dir) / "api" / "uploads"
        self.originals = Originals(settings.data_dir)  # uploaded PDFs, for the citation viewer's page images
        self.index: Index | None = None
        self.retriever: Retriever | None = None
        self.docstore: DocStore | None = None  # for the routes (reads, deletes)
        self.pipeline: IngestPipeline | None = None  # with its own DocStore connection, used only by the job worker
        self.answerer: Answerer | None = None
        self.answer_problem = "not started"
        self.problem: str | None = "not started"
        self.write_lock = threading.Lock()  # every docstore/index write: routes, and the job worker per batch
        self._open_lock = threading.Lock()
        self._swept = False  # the originals' sweep, once per process (``_sweep_originals``)
        self._last_try = 0.0
        self.retry_s = RETRY_S
        self.write_failure: str | None = None  # the last index write that failed, until one succeeds (/readyz)
        self.local_ingests = LocalIngests()  # `citewise ingest` handed to this server (api.routes.local)
        self.sources = SourceStore(settings.data_dir, settings.qdrant.collection)  # api.routes.sources
        self.source_runner: SourceRunner | None = None  # watches and cron schedules, from the first start
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
        self.source_jobs = SourceJobs(settings, self.jobs, self.local_ingests, self.uploads)

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
                self._sweep_originals()
                self.jobs.release()  # resumed jobs run once the first start-up attempt is over
                self._start_sources()

    def _sweep_originals(self) -> None:
        """Once, before any job runs: drop the uploaded PDFs' copies whose documents are gone (every collection's
        docstore is asked, since the copies live per data dir)."""
        if self._swept:
            return
        self._swept = True
        data_dir = self.settings.data_dir
        stores = [DocStore(data_dir, name) for name in DocStore.collections(data_dir)]
        try:
            self.originals.sweep(stores)
        except (OSError, sqlite3.Error) as exc:  # never blocks the start: the copies stay until the next one
            log.warning("originals.sweep_failed", reason=str(exc))
        finally:
            for store in stores:
                store.close()

    def _start_sources(self) -> None:
        """Watches and cron schedules submit sync jobs (``ingest.sources.runner``); once, at the first start."""
        cfg = self.settings.sources
        if self.source_runner is not None or not cfg.run_schedules:
            return

        def submit(name: str) -> None:
            self.source_jobs.submit([name], self.sources.get(name).tenant)

        self.source_runner = SourceRunner(self.sources, submit, tick_s=cfg.tick_s, debounce_ms=cfg.watch_debounce_ms)
        self.source_runner.start()

    def _open(self) -> None:
        from citewise.encoders import Bm25Encoder, check_collection_encoder, encoder_languages, load_dense_encoder
        from ingest.pipeline import IngestPipeline
        from retrieval import Retriever
        from retrieval.profile import effective_retrieval
        from retrieval.rerank import CrossEncoderReranker

        cfg = self.settings
        if self.index is None:
            self.index = open_index(cfg)
        self.index.count()  # reachable (server) / not locked by another process (embedded)
        dense: DenseEncoderProtocol = (
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
        languages = encoder_languages(cfg.encoder)  # what the dense model reads, as `citewise search` knows it
        retriever = Retriever(retrieval, self.index, dense, sparse, reranker, origin=origin, languages=languages)
        retriever.warm_up()
        self.retriever = retriever
        if self.docstore is None:
            self.docstore = DocStore(cfg.data_dir, self.index.collection)
        if self.pipeline is None:
            pipeline_store = DocStore(cfg.data_dir, self.index.collection)
            self.pipeline = IngestPipeline(cfg, self.index, dense, sparse, pipeline_store, write_lock=self.write_lock)
        if self.answerer is None:
            self.answerer = self._make_answerer(retriever)

    def _make_answerer(self, retriever: Retriever) -> Answerer | None:
        """The answerer, or None with ``answer_problem`` saying why (e.g. the configured LLM lacks a setting)."""
        from generation import Answerer

        try:
            answerer = Answerer.from_settings(self.settings, retriever)
        except CitewiseError as exc:
            self.answer_problem = exc.message
            log.warning("api.no_answers", reason=exc.message)
            return None
        self.answer_problem = ""
        return answerer

    def close(self) -> None:
        if self.source_runner is not None:
            self.source_runner.close()
        self.jobs.close()
        self.sources.close()
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline.docstore.close()
        if self.docstore is not None:
            self.docstore.close()
        texts = self.answerer.texts if self.answerer is not None else None
        if isinstance(texts, DocStore):
            texts.close()
        if self.index is not None:
            self.index.close()
        self.feedback.close()
        self.conversations.close()
        self.budgets.close()
        if self.experiments is not None:
            self.experiments.close()
        self.signals.close()

    # -- access --------------------------------------------------------------------------------------
    def require(self) -> ReadyServices:
        """The opened index and models; else ``IndexUnavailable`` (503) saying why."""
        if self.problem is not None and time.monotonic() - self._last_try >= self.retry_s:
            self.start()
        index, retriever, docstore, pipeline = self.index, self.retriever, self.docstore, self.pipeline
        if self.problem is not None or index is None or retriever is None or docstore is None or pipeline is None:
            raise IndexUnavailable(f"the index is unavailable: {self.problem or 'not opened'}")
        return ReadyServices(self, index, retriever, docstore, pipeline, self.answerer)

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

    def _run_tracked(self, job: Job, progress: ProgressCallback) -> IngestSummary:
        local = self.local_ingests.take(job.folder)
        if local is None and job.sources:  # a source sync stored before a restart: its sources are in the job
            local = self.source_jobs.resume(job)
        if local is None and not job.files:  # a `citewise ingest` handed over before a restart: its run is gone
            raise IngestError(
                "this server restarted after `citewise ingest` handed it this run, and the run's options were not "
                "kept: re-run the same command (finished files are not redone)"
            )
        pipeline = self.require().pipeline  # an index that cannot be opened is /readyz's `problem`, not a failed write
        with self.writing():
            if local is not None:
                return local.run(pipeline, job, progress)
            return self._run_job(job, progress)

    def _run_job(self, job: Job, progress: ProgressCallback) -> IngestSummary:
        paths = sorted(job.files)
        ready = self.require()
        try:
            return ready.pipeline.run(
                paths,
                tenant=job.tenant,
                acl=job.acl,
                tags=job.tags,
                progress=progress,
                include=(),
                exclude=(),
                source_names={p: f"upload:{name}" for p, name in job.files.items()},
                reader_groups=job.reader_groups,
            )
        finally:  # also after a cancel or a timeout: the documents committed so far keep their PDFs
            self.originals.keep_uploads(job.files, job.tenant, job.acl, ready.docstore)

    def redact(self, text: str) -> str:
        """``text`` without the server's data dir path (error messages shown to API clients)."""
        return redact_paths(text, self.settings)


@dataclass(frozen=True)
class ReadyServices:
    """The services once the index and models are open (``Services.require``): nothing here is None but the
    answerer (``answers`` says why there is none). The routes get it through ``api.deps.ReadyDep``."""

    services: Services
    index: Index
    retriever: Retriever
    docstore: DocStore
    pipeline: IngestPipeline
    answerer: Answerer | None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def metrics(self) -> Metrics:
        return self.services.metrics

    @property
    def feedback(self) -> FeedbackStore:
        return self.services.feedback

    @property
    def jobs(self) -> JobManager:
        return self.services.jobs

    @property
    def uploads(self) -> Path:
        return self.services.uploads

    @property
    def originals(self) -> Originals:
        return self.services.originals

    @property
    def local_ingests(self) -> LocalIngests:
        return self.services.local_ingests

    @property
    def write_failure(self) -> str | None:
        return self.services.write_failure

    @property
    def write_lock(self) -> threading.Lock:
        return self.services.write_lock

    def writing(self) -> contextlib.AbstractContextManager[None]:
        return self.services.writing()

    def answers(self) -> Answerer:
        """The answerer; ``ModelUnavailable`` (503) saying why when this server cannot answer."""
        if self.answerer is None:
            raise ModelUnavailable(f"answers are unavailable on this server: {self.services.answer_problem}")
        return self.answerer
