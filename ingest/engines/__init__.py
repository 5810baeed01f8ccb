"""Ingest engines: the same pipeline (``ingest.steps``) run by local processes or by a Ray cluster.

``local``: ``IngestPipeline`` (parser processes on this machine, encoding and writing in this process).
``ray``: ``RayIngestPipeline`` (Ray Data: parse + chunk tasks, an encoder actor pool, writes by the driver or by
workers). Both plan, skip, prune and summarise with the same code, so their results are identical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from citewise.docstore import DocStore
from citewise.index import Index
from citewise.settings import Settings
from ingest.pipeline import IngestPipeline

if TYPE_CHECKING:
    from citewise.encoders import DenseEncoderProtocol, SparseEncoderProtocol

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")


def make_pipeline(
    engine: str,
    settings: Settings,
    index: Index,
    dense_encoder: DenseEncoderProtocol,
    sparse_encoder: SparseEncoderProtocol,
    docstore: DocStore,
    address: str | None = None,
) -> IngestPipeline:
    """The pipeline of ``engine``; ``address`` overrides ``CITEWISE_RAY__ADDRESS`` for the Ray engine."""
    if engine == "local":
        return IngestPipeline(settings, index, dense_encoder, sparse_encoder, docstore)
    if engine == "ray":
        from ingest.engines.ray_engine import RayIngestPipeline

        if address is not None:
            settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": address})})
        return RayIngestPipeline(settings, index, dense_encoder, sparse_encoder, docstore)
    from citewise.errors import InvalidRequest

    raise InvalidRequest(f"unknown ingest engine {engine!r}; use one of: {', '.join(ENGINES)}")
