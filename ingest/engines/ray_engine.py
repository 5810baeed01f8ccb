"""``RayIngestPipeline``: the ingest pipeline on Ray Data, for corpora past one machine.

::

    FileTasks (planned by the driver: hash, skip unchanged; exactly as the local engine)
      -> parse + chunk   Ray tasks, ``parse_batch_files`` files each, CPU      (steps.parse_file, steps.prepare)
      -> encode          an actor pool, ``encode_batch_docs`` documents a call,  (steps.encode)
                         one GPU per actor when the cluster has GPUs
      -> write           embedded backend: results stream back to the driver, which writes (steps.write);
                         server backend: writer actors upsert into Qdrant (steps.write_points), the driver
                         records the documents in its docstore

Planning, pruning, counting and the summary are ``IngestPipeline``'s own code, so doc ids, point ids,
payloads, failure records and the summary equal the local engine's. Memory stays bounded: Ray Data's
streaming executor caps the blocks in flight per operator (``CITEWISE_RAY__OBJECT_STORE_MB`` caps the total)
and stops scheduling upstream work while the driver has not pulled the results.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import citewise
import ingest
from citewise.cache import LruCache
from citewise.docstore import PendingDocument
from citewise.errors import CitewiseError, ClusterUnavailable, IngestError
from citewise.index import IndexPoint
from citewise.settings import RaySettings, Settings
from citewise.telemetry import get_logger
from ingest import steps
from ingest.chunking import Chunker
from ingest.ocr import OcrConfig
from ingest.pipeline import IngestPipeline, _Run

if TYPE_CHECKING:
    pass
from ingest.steps import DocContext, Failure, FileTask, Prepared

log = get_logger(__name__)

# Variables the workers need to behave like this process (offline model loading, no telemetry).
_PASS_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HOME",
    "DO_NOT_TRACK",
    "TOKENIZERS_PARALLELISM",
    "TIKTOKEN_CACHE_DIR",
    "SCARF_NO_ANALYTICS",
)


@dataclass(frozen=True)
class RayJob:
    """What every Ray worker needs to run the steps: settings, the run's context and the file limits."""

    settings: Settings
    ctx: DocContext
    max_bytes: int
    timeout_s: float
    backend: str = "torch"  # the driver's dense backend: the workers must compute the same vectors


# -- connecting --------------------------------------------------------------------------------------
def _runtime_env(settings: RaySettings, local: bool) -> dict[str, Any]:
    env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
    if local:  # workers import this checkout, whatever the interpreter's own site-packages say
        root = str(Path(ingest.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    runtime: dict[str, Any] = {"env_vars": env}
    if settings.ship_code:
        runtime["py_modules"] = [citewise, ingest]
    return runtime


def connect(settings: RaySettings) -> bool:
    """Make sure Ray is up (start it here, or join ``settings.address``); True when this call started it.

    A Ray already initialised in this process (e.g. by a test or a notebook) is used as it is.
    Raises ``ClusterUnavailable`` when Ray is not installed or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(
            "The Ray engine needs Ray: pip install 'citewise[ray]' (or use --engine local)."
        ) from None
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = settings.address if settings.address not in ("", "local") else None
    try:
        ray.init(
            address=address,
            num_cpus=settings.num_cpus if address is None else None,
            include_dashboard=False,
            logging_level=logging.WARNING,
            runtime_env=_runtime_env(settings, local=address is None),
        )
    except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError... depending on the address
        ray.shutdown()  # whatever half started
        raise ClusterUnavailable(
            f"Cannot reach the Ray cluster at {address or 'this machine'!r} ({type(exc).__name__}: {exc}). "
            "Start it (`ray start --head`), check --ray-address / CITEWISE_RAY__ADDRESS (auto, ray://host:10001), "
            "or use --engine local."
        ) from None
    return True


# -- what runs on the workers ------------------------------------------------------------------------
@dataclass(frozen=True)
class Fatal:
    """A worker's citewise error that stops the run (a missing model, an unreachable index), sent as data:
    Ray forwards exceptions only as text, and the caller should get the same error as from the local engine."""

    error: CitewiseError


def _fatal(batch: dict[str, np.ndarray], error: CitewiseError) -> dict[str, np.ndarray]:
    return {"idx": batch["idx"], "item": _column([_dump(Fatal(error))] * len(batch["idx"]))}


def _dump(item: Any) -> bytes:
    return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


def _column(items: list[bytes]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


_CHUNKERS: LruCache[str, Chunker] = LruCache(8)  # per worker process and job settings (the tokenizer loads once)


def _dense(job: RayJob, gpu: bool) -> Any:
    from citewise.encoders import load_dense_encoder

    device = "cuda" if gpu and job.backend == "torch" else "cpu"  # ONNX exports run on CPU here
    settings = job.settings.encoder.model_copy(update={"device": device, "backend": job.backend})
    encoder = load_dense_encoder(settings, job.settings.data_dir)
    if str(getattr(encoder, "fingerprint", encoder.model_id)) != job.ctx.versions.get("encoder"):
        raise IngestError(
            f"worker encoder {encoder.model_id!r} differs from the driver's {job.ctx.versions.get('encoder')!r}; "
            "install the same citewise version and settings on every node"
        )
    return encoder


def _chunker(job: RayJob) -> Chunker:
    key = job.settings.encoder.model_dump_json() + job.ctx.versions.get("chunker", "")
    return _CHUNKERS.get_or_make(key, lambda: _new_chunker(job))


def _new_chunker(job: RayJob) -> Chunker:
    dense = _dense(job, gpu=False)
    cfg = job.settings.ingest
    chunker = Chunker(dense.count_tokens, int(dense.max_seq_length), cfg.chunk_tokens, cfg.chunk_overlap)
    if chunker.version != job.ctx.versions.get("chunker"):
        raise IngestError(
            f"worker chunker {chunker.version!r} differs from the driver's {job.ctx.versions.get('chunker')!r}; "
            "install the same citewise version on every node"
        )
    return chunker


def parse_and_chunk(batch: dict[str, np.ndarray], job: RayJob) -> dict[str, np.ndarray]:
    """Ray task: FileTasks -> ``Prepared`` documents or ``Failure`` records (steps 1 and 2)."""
    try:
        chunker = _chunker(job)
    except CitewiseError as exc:
        return _fatal(batch, exc)
    out = []
    for blob in batch["item"]:
        task: FileTask = pickle.loads(blob)
        parsed = steps.parse_file(task, job.max_bytes, job.timeout_s, OcrConfig.from_settings(job.settings.ingest))
        out.append(_dump(parsed if isinstance(parsed, Failure) else steps.prepare(task, parsed, chunker, job.ctx)))
    return {"idx": batch["idx"], "item": _column(out)}


class EncodeActor:
    """Ray actor: ``Prepared`` -> (``Prepared``, its ``IndexPoint``s); failures pass through (step 3a)."""

    def __init__(self, job: RayJob) -> None:
        import ray

        from citewise.encoders import Bm25Encoder

        self.error: CitewiseError | None = None
        try:
            self.dense = _dense(job, gpu=bool(ray.get_gpu_ids()))
        except CitewiseError as exc:
            self.error = exc
        self.sparse = Bm25Encoder()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.error is not None:
            return _fatal(batch, self.error)
        items = [pickle.loads(blob) for blob in batch["item"]]
        docs = [x for x in items if isinstance(x, Prepared)]
        points = steps.encode([c for p in docs for c in p.chunks], self.dense, self.sparse)
        out, at = [], 0
        for item in items:
            if isinstance(item, Prepared):
                n = len(item.chunks)
                out.append(_dump((item, points[at : at + n])))
                at += n
            else:
                out.append(_dump(item))
        return {"idx": batch["idx"], "item": _column(out)}


class WriteActor:
    """Ray actor (server backend): upserts the points into Qdrant; sends back the documents without them."""

    def __init__(self, job: RayJob, collection: str) -> None:
        from citewise.index import open_index

        self.error: CitewiseError | None = None
        try:
            self.index = open_index(job.settings, collection)
        except CitewiseError as exc:
            self.error = exc

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [pickle.loads(blob) for blob in batch["item"]]
        encoded = [x for x in items if isinstance(x, tuple)]
        try:
            if self.error is not None:
                raise self.error
            # delete other versions even of documents new to the docstore: the driver records them only afterwards
            steps.write_points(
                self.index, [p for p, _ in encoded], [pt for _, pts in encoded for pt in pts], always=True
            )
        except CitewiseError as exc:
            return _fatal(batch, exc)
        out = [_dump((replace(x[0], chunks=()), len(x[1])) if isinstance(x, tuple) else x) for x in items]
        return {"idx": batch["idx"], "item": _column(out)}


def build_dataset(tasks: list[FileTask], job: RayJob, settings: RaySettings, writers_for: str | None) -> Any:
    """The Ray Data pipeline over ``tasks``; ``writers_for``: the collection workers write to (else the driver)."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext, TaskPoolStrategy

    context = DataContext.get_current()
    context.enable_progress_bars = settings.progress_bars
    if settings.object_store_mb is not None:
        limits = context.execution_options.resource_limits
        context.execution_options.resource_limits = limits.copy(object_store_memory=settings.object_store_mb * 2**20)
    rows = [{"idx": i, "item": _dump(t)} for i, t in enumerate(tasks)]
    ds: Any = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / settings.parse_batch_files)))
    ds = ds.map_batches(
        parse_and_chunk,
        fn_kwargs={"job": job},
        batch_size=settings.parse_batch_files,
        batch_format="numpy",
        num_cpus=1,
        memory=settings.parse_memory_mb * 2**20,  # also keeps Ray Data from fusing parsing into the encoder actors
        compute=TaskPoolStrategy(size=settings.parse_tasks),
    )
    gpus = settings.encoder_gpus
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    ds = ds.map_batches(
        EncodeActor,
        fn_constructor_kwargs={"job": job},
        batch_size=settings.encode_batch_docs,
        batch_format="numpy",
        num_cpus=settings.encoder_cpus,
        num_gpus=gpus or None,
        compute=ActorPoolStrategy(size=settings.encoders),
    )
    if writers_for is not None:
        ds = ds.map_batches(
            WriteActor,
            fn_constructor_kwargs={"job": job, "collection": writers_for},
            batch_size=settings.encode_batch_docs,
            batch_format="numpy",
            num_cpus=0.5,
            compute=ActorPoolStrategy(size=settings.writers),
        )
    return ds


# -- the driver --------------------------------------------------------------------------------------
class RayIngestPipeline(IngestPipeline):
    """``IngestPipeline`` whose parse, chunk, encode (and, on a Qdrant server, write) steps run on Ray."""

    _started_ray = False  # whether this pipeline started Ray (and so shuts it down)

    @property
    def ray_settings(self) -> RaySettings:
        return self.full_settings.ray

    def close(self) -> None:
        """Also shut Ray down if this pipeline started it (a Ray someone else started is left running)."""
        super().close()
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False

    def _ingest(self, tasks: list[FileTask], ctx: DocContext, workers: int, run: _Run, notify: Any) -> None:
        if not tasks:
            return
        self._started_ray = connect(self.ray_settings) or self._started_ray
        # the driver's model: the collection's adapted one (citewise tune encoder) when it has one
        from citewise.encoders import encoder_languages

        base = self.full_settings.encoder
        encoder = base.model_copy(update={"model": str(self.dense.model_id), "languages": encoder_languages(base)})
        job = RayJob(
            self.full_settings.model_copy(update={"encoder": encoder}),
            ctx,
            self.max_bytes,
            self.timeout_s,
            str(getattr(self.dense, "backend", "torch")),
        )
        workers_write = self.index.backend == "server"
        ds = build_dataset(tasks, job, self.ray_settings, self.index.collection if workers_write else None)
        first_failure = len(run.failures)
        log.info("ingest.ray", files=len(tasks), writers="workers" if workers_write else "driver")
        if workers_write:
            self._record_written(ds, run, notify)
        else:
            self._write_streamed(ds, run, notify)
        # the same order as the local engine (task order), whatever order the cluster finished in
        order = {t.path: i for i, t in enumerate(tasks)}
        run.failures[first_failure:] = sorted(run.failures[first_failure:], key=lambda f: order.get(f.path, -1))
        doc_order = {t.doc_id: i for i, t in enumerate(tasks)}
        run.written.sort(key=lambda d: doc_order.get(d, -1))

    def _results(self, ds: Any, run: _Run, notify: Any) -> Any:
        """Results as the cluster finishes them; failures are recorded here and not yielded."""
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
            for blob in batch["item"]:
                item = pickle.loads(blob)
                if isinstance(item, Fatal):
                    raise item.error
                if isinstance(item, Failure):
                    run.failures.append(item)
                    run.done += 1
                    notify("ingest", item.path)
                    continue
                yield item

    def _write_streamed(self, ds: Any, run: _Run, notify: Any) -> None:
        """Embedded backend: the driver writes the encoded documents, ``batch_chunks`` chunks at a time."""
        batch: list[Prepared] = []
        points: list[IndexPoint] = []
        for prepared, doc_points in self._results(ds, run, notify):
            batch.append(prepared)
            points.extend(doc_points)
            if len(points) >= self.settings.batch_chunks:
                self._write(batch, run, points)
                notify("ingest", prepared.task.path)
                batch, points = [], []
        if batch:
            self._write(batch, run, points)
            notify("ingest")

    def _record_written(self, ds: Any, run: _Run, notify: Any) -> None:
        """Server backend: the workers wrote the points; record the documents as committed, count them."""
        batch: list[tuple[Prepared, int]] = []
        for item in self._results(ds, run, notify):
            batch.append(item)
            if len(batch) >= self.ray_settings.encode_batch_docs:
                self._commit(batch, run)
                notify("ingest", item[0].task.path)
                batch = []
        if batch:
            self._commit(batch, run)
            notify("ingest")

    def _commit(self, batch: list[tuple[Prepared, int]], run: _Run) -> None:
        self.docstore.begin([PendingDocument(p.record, p.text) for p, _ in batch])
        self.docstore.commit([p.task.doc_id for p, _ in batch])
        for p, n in batch:
            run.added_chunks += n
            run.removed_chunks += max(0, p.task.old_chunks - n) if p.task.existing or p.task.had_record else 0
            self._remove(p.task.replaces, run)
            run.count_written(p.task)
