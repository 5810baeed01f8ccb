"""Server backend: qdrant-client against a Qdrant server (URL + API key), or its ``:memory:`` mode."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models

from citewise.errors import IndexUnavailable
from citewise.index import (
    DENSE,
    FLOAT_FIELDS,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    SPARSE,
    TENANT_FIELD,
    CollectionSpec,
    Condition,
    Filter,
    IndexPoint,
    IndexStats,
    IsEmpty,
    Match,
    MatchAny,
    Prefix,
    Range,
    Record,
    SearchQuery,
)
from citewise.settings import QdrantSettings

T = TypeVar("T")


def _condition(cond: Condition) -> Any:
    if isinstance(cond, Filter):
        return _filter(cond)
    if isinstance(cond, Match):
        return models.FieldCondition(key=cond.key, match=models.MatchValue(value=cond.value))
    if isinstance(cond, MatchAny):
        return models.FieldCondition(key=cond.key, match=models.MatchAny(any=list(cond.values)))  # type: ignore[arg-type]
    if isinstance(cond, Prefix):
        return models.FieldCondition(key=cond.key, match=models.MatchPrefix(prefix=cond.prefix))
    if isinstance(cond, Range):
        return models.FieldCondition(key=cond.key, range=models.Range(gte=cond.gte, lte=cond.lte))
    if isinstance(cond, IsEmpty):
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=cond.key))
    raise TypeError(f"unknown filter condition {cond!r}")


def _filter(flt: Filter | None) -> models.Filter | None:
    if flt is None:
        return None
    return models.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )


def _sparse(vec: Any) -> models.SparseVector:
    return models.SparseVector(indices=list(vec.indices), values=list(vec.values))


class ServerIndex:
    """A collection on a Qdrant server; the same schema, ids and queries as ``EdgeIndex``."""

    backend = "server"

    def __init__(self, client: QdrantClient, collection: str, where: str) -> None:
        self.client = client
        self.collection = collection
        self.where = where

    @classmethod
    def connect(cls, settings: QdrantSettings, collection: str) -> ServerIndex:
        if settings.url == ":memory:":
            return cls(QdrantClient(":memory:"), collection, ":memory:")
        client = QdrantClient(
            url=settings.url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            prefer_grpc=settings.prefer_grpc,
            timeout=int(settings.timeout_s),
            check_compatibility=False,
        )
        return cls(client, collection, settings.url)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except IndexUnavailable:
            raise
        except Exception as exc:
            if "not found" in str(exc).lower() and "collection" in str(exc).lower():
                raise IndexUnavailable(
                    f"Collection {self.collection!r} does not exist on {self.where}: ingest something first."
                ) from None
            details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)  # type: ignore[attr-defined]
            raise IndexUnavailable(
                f"Qdrant server at {self.where} did not answer ({type(exc).__name__}: {details}). Check that it is "
                "running and reachable (CITEWISE_QDRANT__URL), and that CITEWISE_QDRANT__API_KEY is right."
            ) from None

    def _exists(self) -> bool:
        return self._call(lambda: self.client.collection_exists(self.collection))

    def spec(self) -> CollectionSpec | None:
        if not self._exists():
            return None
        info = self._call(lambda: self.client.get_collection(self.collection))
        metadata = info.config.metadata or {}
        return CollectionSpec.from_metadata(metadata) if "dense_size" in metadata else None

    def ensure(self, spec: CollectionSpec) -> None:
        existing = self.spec()
        if existing is not None:
            spec.check_compatible(existing, self.collection)
            return
        self._call(
            lambda: self.client.create_collection(
                self.collection,
                vectors_config={DENSE: models.VectorParams(size=spec.dense_size, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                metadata=spec.as_metadata(),
            )
        )
        indexes: list[tuple[str, Any]] = [
            (n, models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, prefix=True))
            if n == "source"
            else (n, models.PayloadSchemaType.KEYWORD)
            for n in KEYWORD_FIELDS
        ]
        indexes.append((TENANT_FIELD, models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)))
        indexes += [(n, models.PayloadSchemaType.FLOAT) for n in FLOAT_FIELDS]
        indexes += [(n, models.PayloadSchemaType.INTEGER) for n in INTEGER_FIELDS]
        if self.where == ":memory:":
            return  # local mode ignores payload indexes (and warns about it)
        for name, schema in indexes:
            self._call(
                lambda name=name, schema=schema: self.client.create_payload_index(  # type: ignore[misc]
                    self.collection, name, field_schema=schema
                )
            )

    def close(self) -> None:
        self.client.close()

    def flush(self) -> None:
        """Writes are acknowledged by the server; nothing to flush."""

    def optimize(self) -> None:
        """The server optimizes in the background."""

    def drop(self) -> None:
        if self._exists():
            self._call(lambda: self.client.delete_collection(self.collection))

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if not points:
            return
        structs = [
            models.PointStruct(
                id=p.id, vector={DENSE: [float(x) for x in p.dense], SPARSE: _sparse(p.sparse)}, payload=p.payload
            )
            for p in points
        ]
        self._call(lambda: self.client.upsert(self.collection, points=structs, wait=True))

    def set_spec(self, spec: CollectionSpec) -> None:
        """Replace the recorded spec of an existing collection (re-encoding with another model)."""
        old = self.spec()
        if old is None:
            raise IndexUnavailable(f"Collection {self.collection!r} does not exist on {self.where}.")
        new: dict[str, Any] = spec.as_metadata()
        metadata = {**{k: None for k in old.as_metadata() if k not in new}, **new}  # null removes a key (merge)
        self._call(lambda: self.client.update_collection(self.collection, metadata=metadata))

    def replace_dense(self, ids: Sequence[str], vectors: Sequence[Sequence[float]], encoder: str) -> None:
        """Overwrite the dense vectors of existing points (sparse vectors untouched); record ``encoder`` in
        each point's ``versions.encoder``."""
        if not ids:
            return
        points = [
            models.PointVectors(id=i, vector={DENSE: [float(x) for x in v]}) for i, v in zip(ids, vectors, strict=True)
        ]
        self._call(lambda: self.client.update_vectors(self.collection, points=points, wait=True))
        self._call(
            lambda: self.client.set_payload(
                self.collection, payload={"encoder": encoder}, points=list(ids), key="versions", wait=True
            )
        )

    def delete(self, flt: Filter) -> None:
        if self._exists():
            selector = models.FilterSelector(filter=_filter(flt) or models.Filter())
            self._call(lambda: self.client.delete(self.collection, points_selector=selector, wait=True))

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids and self._exists():
            selector = models.PointIdsList(points=list(ids))
            self._call(lambda: self.client.delete(self.collection, points_selector=selector, wait=True))

    def count(self, flt: Filter | None = None) -> int:
        if not self._exists():
            return 0
        return self._call(lambda: self.client.count(self.collection, count_filter=_filter(flt), exact=True)).count

    def scroll(
        self, flt: Filter | None = None, limit: int = 256, offset: str | None = None, with_vectors: bool = False
    ) -> tuple[list[Record], str | None]:
        if not self._exists():
            return [], None
        points, next_offset = self._call(
            lambda: self.client.scroll(
                self.collection,
                scroll_filter=_filter(flt),
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=[DENSE] if with_vectors else False,
            )
        )
        records = []
        for p in points:
            vec = p.vector.get(DENSE) if with_vectors and isinstance(p.vector, dict) else None
            dense = tuple(float(x) for x in vec) if isinstance(vec, list) else None  # type: ignore[arg-type]
            records.append(Record(id=str(p.id), payload=dict(p.payload or {}), dense=dense))
        return records, (str(next_offset) if next_offset is not None else None)

    def retrieve(self, ids: Sequence[str]) -> list[Record]:
        if not ids or not self._exists():
            return []
        points = self._call(lambda: self.client.retrieve(self.collection, ids=list(ids), with_payload=True))
        return [Record(id=str(p.id), payload=dict(p.payload or {})) for p in points]

    def query(self, query: SearchQuery) -> list[Record]:
        if not self._exists():
            return []
        flt = _filter(query.filter)
        dense = [float(x) for x in query.dense] if query.dense is not None else None
        sparse = _sparse(query.sparse) if query.sparse is not None else None
        if query.mode == "hybrid":
            fusion: Any = (
                models.RrfQuery(rrf=models.Rrf(k=query.rrf_k, weights=list(query.weights) if query.weights else None))
                if query.fusion == "rrf"
                else models.FusionQuery(fusion=models.Fusion.DBSF)
            )
            prefetch = [
                models.Prefetch(query=dense, using=DENSE, limit=query.prefetch_limit, filter=flt),
                models.Prefetch(query=sparse, using=SPARSE, limit=query.prefetch_limit, filter=flt),
            ]
            result = self._call(
                lambda: self.client.query_points(
                    self.collection, prefetch=prefetch, query=fusion, query_filter=flt, limit=query.limit
                )
            )
        else:
            using, vector = (DENSE, dense) if query.mode == "dense" else (SPARSE, sparse)
            result = self._call(
                lambda: self.client.query_points(
                    self.collection, query=vector, using=using, query_filter=flt, limit=query.limit
                )
            )
        return [Record(id=str(p.id), payload=dict(p.payload or {}), score=float(p.score)) for p in result.points]

    def distinct(self, key: str, flt: Filter | None = None, limit: int = 100_000) -> dict[str, int]:
        if not self._exists():
            return {}
        response = self._call(
            lambda: self.client.facet(self.collection, key=key, facet_filter=_filter(flt), limit=limit, exact=True)
        )
        return {str(hit.value): int(hit.count) for hit in response.hits}

    def stats(self) -> IndexStats:
        spec = self.spec()
        return IndexStats(
            backend=self.backend,
            collection=self.collection,
            exists=spec is not None,
            points=self.count(),
            documents=len(self.distinct("doc_id")),
            disk_bytes=None,
            spec=spec.as_metadata() if spec else None,
        )
