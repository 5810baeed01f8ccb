"""Server backend: qdrant-client against a Qdrant server (URL + API key), or its ``:memory:`` mode."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc  # type: ignore[import-untyped]
import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from citewise.errors import CitewiseError, IndexUnavailable, InvalidRequest
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


class CollectionMissing(IndexUnavailable):
    """The collection is not (or no longer) on the server: reads answer empty, writes fail with this."""


# gRPC status codes as the HTTP statuses the REST API answers with for the same condition
_GRPC_STATUS = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
}
_NO_ANSWER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


def _rest_detail(exc: UnexpectedResponse) -> str:
    """Qdrant's own error text (``{"status": {"error": ...}}``), else the start of the body."""
    try:
        body = exc.structured()
        detail = body["status"]["error"] if isinstance(body.get("status"), dict) else body
    except (ValueError, KeyError, TypeError, AttributeError):
        detail = exc.content[:200].decode("utf-8", "replace") or exc.reason_phrase
    return str(detail)[:300]


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, ResponseHandlingException):
        return _is_timeout(exc.source)
    return isinstance(exc, httpx.TimeoutException | TimeoutError)


class ServerIndex:
    """A collection on a Qdrant server; the same schema, ids and queries as ``EdgeIndex``.

    Errors are mapped by type and status code (``_error``): a missing collection is ``CollectionMissing``
    (reads answer empty), a rejected request is ``InvalidRequest`` (422), a rejected key, a server error or no
    answer in ``timeout_s`` is ``IndexUnavailable`` (503). That the collection exists is checked once and
    remembered until an operation finds it gone."""

    backend = "server"

    def __init__(self, client: QdrantClient, collection: str, where: str, timeout_s: float | None = None) -> None:
        self.client = client
        self.collection = collection
        self.where = where
        self.timeout_s = timeout_s
        self._known = False  # the collection was seen to exist (only a positive answer is remembered)

    @classmethod
    def connect(cls, settings: QdrantSettings, collection: str) -> ServerIndex:
        if settings.url == ":memory:":
            return cls(QdrantClient(":memory:"), collection, ":memory:")
        timeout = math.ceil(settings.timeout_s)  # qdrant-client takes whole seconds (0.5 -> 1, never 0)
        client = QdrantClient(
            url=settings.url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            prefer_grpc=settings.prefer_grpc,
            timeout=timeout,
            check_compatibility=False,
        )
        return cls(client, collection, settings.url, timeout)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except CitewiseError:
            raise
        except Exception as exc:
            error = self._error(exc)
            if isinstance(error, CollectionMissing):
                self._known = False
            raise error from exc

    def _error(self, exc: Exception) -> CitewiseError:
        """A qdrant-client exception as the citewise error it means (by type and status code)."""
        status: int | None = None
        detail = str(exc)
        if isinstance(exc, UnexpectedResponse):
            status, detail = exc.status_code, _rest_detail(exc)
        elif isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
            code = exc.code()  # type: ignore[attr-defined]
            detail = exc.details() if callable(getattr(exc, "details", None)) else str(exc)  # type: ignore[attr-defined]
            if code in _NO_ANSWER:
                return self._no_answer(exc, timed_out=code == grpc.StatusCode.DEADLINE_EXCEEDED)
            status = _GRPC_STATUS.get(code)
        elif isinstance(exc, ResponseHandlingException | httpx.TransportError | ConnectionError | TimeoutError):
            return self._no_answer(exc, timed_out=_is_timeout(exc))
        elif self.where == ":memory:" and isinstance(exc, ValueError | KeyError):
            # local mode raises plain ValueErrors: ask it whether the collection is there instead of reading text
            status = 400 if self.client.collection_exists(self.collection) else 404
        if status == 404:
            return CollectionMissing(
                f"Collection {self.collection!r} does not exist on {self.where}: ingest something first."
            )
        if status in (401, 403):
            return IndexUnavailable(
                f"Qdrant server at {self.where} refused the API key ({status}: {detail}); "
                "check CITEWISE_QDRANT__API_KEY."
            )
        if status is not None and 400 <= status < 500 and status != 429:
            return InvalidRequest(f"Qdrant server at {self.where} rejected the request ({status}: {detail}).")
        if status is not None:
            return IndexUnavailable(
                f"Qdrant server at {self.where} failed ({status}: {detail}); retry, and check the server's log."
            )
        return IndexUnavailable(f"Qdrant server at {self.where} failed ({type(exc).__name__}: {detail}).")

    def _no_answer(self, exc: BaseException, timed_out: bool) -> IndexUnavailable:
        if timed_out and self.timeout_s is not None:
            return IndexUnavailable(
                f"Qdrant server at {self.where} did not answer within {self.timeout_s:g} s; check its load, or "
                "raise CITEWISE_QDRANT__TIMEOUT_S."
            )
        return IndexUnavailable(
            f"Qdrant server at {self.where} did not answer ({type(exc).__name__}: {exc}). Check that it is "
            "running and reachable (CITEWISE_QDRANT__URL)."
        )

    def _exists(self) -> bool:
        if not self._known:
            self._known = self._call(lambda: self.client.collection_exists(self.collection))
        return self._known

    def _read(self, fn: Callable[[], T]) -> T | None:
        """``fn()`` against an existing collection; None when there is none (or it went away meanwhile)."""
        if not self._exists():
            return None
        try:
            return self._call(fn)
        except CollectionMissing:
            return None

    def spec(self) -> CollectionSpec | None:
        info = self._read(lambda: self.client.get_collection(self.collection))
        if info is None:
            return None
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
        self._known = True
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
        self._read(lambda: self.client.delete_collection(self.collection))
        self._known = False

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

    def set_payload(self, flt: Filter, payload: dict[str, Any]) -> None:
        selector = models.FilterSelector(filter=_filter(flt) or models.Filter())
        self._call(lambda: self.client.set_payload(self.collection, payload=payload, points=selector, wait=True))

    def delete(self, flt: Filter) -> None:
        selector = models.FilterSelector(filter=_filter(flt) or models.Filter())
        self._read(lambda: self.client.delete(self.collection, points_selector=selector, wait=True))

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            selector = models.PointIdsList(points=list(ids))
            self._read(lambda: self.client.delete(self.collection, points_selector=selector, wait=True))

    def count(self, flt: Filter | None = None) -> int:
        counted = self._read(lambda: self.client.count(self.collection, count_filter=_filter(flt), exact=True))
        return counted.count if counted is not None else 0

    def scroll(
        self, flt: Filter | None = None, limit: int = 256, offset: str | None = None, with_vectors: bool = False
    ) -> tuple[list[Record], str | None]:
        page = self._read(
            lambda: self.client.scroll(
                self.collection,
                scroll_filter=_filter(flt),
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=[DENSE] if with_vectors else False,
            )
        )
        if page is None:
            return [], None
        points, next_offset = page
        records = []
        for p in points:
            vec = p.vector.get(DENSE) if with_vectors and isinstance(p.vector, dict) else None
            dense = tuple(float(x) for x in vec) if isinstance(vec, list) else None  # type: ignore[arg-type]
            records.append(Record(id=str(p.id), payload=dict(p.payload or {}), dense=dense))
        return records, (str(next_offset) if next_offset is not None else None)

    def retrieve(self, ids: Sequence[str]) -> list[Record]:
        if not ids:
            return []
        points = self._read(lambda: self.client.retrieve(self.collection, ids=list(ids), with_payload=True)) or []
        return [Record(id=str(p.id), payload=dict(p.payload or {})) for p in points]

    def query(self, query: SearchQuery) -> list[Record]:
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
            result = self._read(
                lambda: self.client.query_points(
                    self.collection,
                    prefetch=prefetch,
                    query=fusion,
                    query_filter=flt,
                    limit=query.limit,
                    with_payload=query.with_payload,
                )
            )
        else:
            using, vector = (DENSE, dense) if query.mode == "dense" else (SPARSE, sparse)
            result = self._read(
                lambda: self.client.query_points(
                    self.collection,
                    query=vector,
                    using=using,
                    query_filter=flt,
                    limit=query.limit,
                    with_payload=query.with_payload,
                )
            )
        if result is None:
            return []
        return [Record(id=str(p.id), payload=dict(p.payload or {}), score=float(p.score)) for p in result.points]

    def query_many(self, queries: Sequence[SearchQuery]) -> list[list[Record]]:
        """The queries one after the other (the same results as the embedded backend's single batched call)."""
        return [self.query(q) for q in queries]

    def distinct(self, key: str, flt: Filter | None = None, limit: int | None = None) -> dict[str, int]:
        if not self._exists():
            return {}
        most = limit if limit is not None else max(1, self.count(flt))  # no more values than points
        response = self._read(
            lambda: self.client.facet(self.collection, key=key, facet_filter=_filter(flt), limit=most, exact=True)
        )
        return {str(hit.value): int(hit.count) for hit in response.hits} if response is not None else {}

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
