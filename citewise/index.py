"""The index contract: one collection schema, neutral query/filter types, and the backend factory.

Two backends implement ``Index``: ``EdgeIndex`` (embedded, qdrant-edge-py, a folder under the data dir)
and ``ServerIndex`` (qdrant-client against a Qdrant server, or its ``:memory:`` mode in tests). Both
take and return only the types below, so callers never see a backend's own models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Union

from citewise.types import SparseVector

DENSE = "dense"
SPARSE = "bm25"
SCHEMA_VERSION = 1

# Payload fields that filters use, with their index type.
KEYWORD_FIELDS = ("doc_id", "source", "file_type", "acl", "tag_pairs", "content_hash", "lang")
TENANT_FIELD = "tenant"
ACL_FIELD = "acl"  # the groups allowed to read a chunk; empty: its whole tenant
FLOAT_FIELDS = ("modified_at",)
INTEGER_FIELDS = ("chunk_index", "page_start")

Mode = Literal["dense", "sparse", "hybrid"]
FusionName = Literal["rrf", "dbsf"]


@dataclass(frozen=True)
class Match:
    """``key`` equals ``value`` (for list fields: contains it)."""

    key: str
    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    key: str
    values: tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True)
class Prefix:
    """Keyword ``key`` starts with ``prefix`` (the field's index is built with prefix support)."""

    key: str
    prefix: str


@dataclass(frozen=True)
class Range:
    key: str
    gte: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class IsEmpty:
    """List field ``key`` is missing, null or empty (e.g. a chunk with no ACL groups)."""

    key: str


Condition = Union[Match, MatchAny, Prefix, Range, IsEmpty, "Filter"]


@dataclass(frozen=True)
class Filter:
    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()

    def __and__(self, other: Filter | None) -> Filter:
        if other is None:
            return self
        return Filter(must=(self, other))


@dataclass(frozen=True)
class IndexPoint:
    id: str
    dense: Sequence[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class Record:
    id: str
    payload: dict[str, Any]
    score: float = 0.0
    dense: tuple[float, ...] | None = None


@dataclass(frozen=True)
class SearchQuery:
    mode: Mode
    limit: int
    dense: Sequence[float] | None = None
    sparse: SparseVector | None = None
    filter: Filter | None = None
    fusion: FusionName = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] | None = None  # (dense, sparse) for weighted RRF
    prefetch_limit: int = 100
    with_payload: bool = True  # False: ids and scores only (hybrid fetches payloads of the fused top k afterwards)

    def __post_init__(self) -> None:
        if self.mode in ("dense", "hybrid") and self.dense is None:
            raise ValueError(f"mode {self.mode!r} needs a dense query vector")
        if self.mode in ("sparse", "hybrid") and self.sparse is None:
            raise ValueError(f"mode {self.mode!r} needs a sparse query vector")
        if self.limit < 1:
            raise ValueError("limit must be >= 1")


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection was built with; a mismatch on reopen is an error, not silent mixing."""

    dense_size: int
    encoder: str
    sparse: str = "qdrant-bm25"
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "dense_size": self.dense_size,
            "encoder": self.encoder,
            "sparse": self.sparse,
            "schema_version": self.schema_version,
            **{f"extra.{k}": v for k, v in self.extra.items()},
        }

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> CollectionSpec:
        extra = {k[6:]: str(v) for k, v in data.items() if k.startswith("extra.")}
        return cls(
            dense_size=int(data["dense_size"]),
            encoder=str(data["encoder"]),
            sparse=str(data.get("sparse", "qdrant-bm25")),
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            extra=extra,
        )

    def check_compatible(self, other: CollectionSpec, collection: str) -> None:
        from citewise.errors import IndexSchemaMismatch

        mine, theirs = self.as_metadata(), other.as_metadata()
        diff = {k: (theirs.get(k), mine.get(k)) for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}
        if diff:
            details = ", ".join(f"{k}: collection has {a!r}, requested {b!r}" for k, (a, b) in sorted(diff.items()))
            raise IndexSchemaMismatch(
                f"Collection {collection!r} was built differently ({details}). Re-embed into a new collection "
                "(CITEWISE_QDRANT__COLLECTION=<new name>) or drop it with `citewise index drop --yes`."
            )


@dataclass(frozen=True)
class IndexStats:
    backend: str
    collection: str
    exists: bool
    points: int
    documents: int
    disk_bytes: int | None
    spec: dict[str, Any] | None


class Index(Protocol):
    """What every backend offers. Every method raises ``IndexUnavailable`` when the store cannot be reached."""

    backend: str
    collection: str

    def spec(self) -> CollectionSpec | None: ...
    def ensure(self, spec: CollectionSpec) -> None: ...
    def set_spec(self, spec: CollectionSpec) -> None: ...
    def upsert(self, points: Sequence[IndexPoint]) -> None: ...
    def replace_dense(self, ids: Sequence[str], vectors: Sequence[Sequence[float]], encoder: str) -> None: ...
    def set_payload(self, flt: Filter, payload: dict[str, Any]) -> None:
        """Set these top-level payload keys (each value replaced whole) on every point matching ``flt``."""
        ...

    def delete(self, flt: Filter) -> None: ...
    def delete_ids(self, ids: Sequence[str]) -> None: ...
    def count(self, flt: Filter | None = None) -> int: ...
    def scroll(
        self, flt: Filter | None = None, limit: int = 256, offset: str | None = None, with_vectors: bool = False
    ) -> tuple[list[Record], str | None]: ...
    def retrieve(self, ids: Sequence[str]) -> list[Record]: ...
    def query(self, query: SearchQuery) -> list[Record]: ...
    def query_many(self, queries: Sequence[SearchQuery]) -> list[list[Record]]: ...
    def distinct(self, key: str, flt: Filter | None = None, limit: int | None = None) -> dict[str, int]:
        """Each value of ``key`` with its number of points; every value unless ``limit`` is given."""
        ...

    def stats(self) -> IndexStats: ...
    def drop(self) -> None: ...
    def close(self) -> None: ...


def open_index(settings: Any, collection: str | None = None) -> Index:
    """The backend chosen by ``settings.qdrant.backend`` for ``collection`` (default: the configured one)."""
    name = collection or settings.qdrant.collection
    if settings.qdrant.backend == "server":
        from citewise.index_server import ServerIndex

        return ServerIndex.connect(settings.qdrant, name)
    from citewise.index_edge import EdgeIndex

    return EdgeIndex(settings.index_dir, name, data_dir=settings.data_dir)
