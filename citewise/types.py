"""The records that travel between stages: Document, Chunk, Hit, Citation, Answer.

A chunk's ``text`` is always exactly ``document_text[char_start:char_end]`` of its document's
extracted text, so any quote taken from a chunk can be located in the document.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from citewise.errors import InvalidRequest

# Fixed namespace so point ids are the same on every machine and backend.
POINT_NAMESPACE = uuid.UUID("6f1c2f0e-3c1a-5b7e-9d4a-2b8e6c0a1f37")
DEFAULT_TENANT = "default"


def point_id(doc_id: str, chunk_index: int) -> str:
    """UUIDv5 of (doc id, chunk index): the Qdrant point id of a chunk."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}\x1f{chunk_index}"))


NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # tenant and ACL group names


def checked_names(values: Iterable[str], what: str) -> tuple[str, ...]:
    """Distinct, sorted tenant or ACL group names; ``InvalidRequest`` names the first bad one and the rule."""
    names = tuple(sorted(set(values)))
    bad = next((n for n in names if not NAME.match(n)), None)
    if bad is not None:
        raise InvalidRequest(f"{what} {bad!r} is invalid: use 1-64 letters, digits, '.', '_' or '-'")
    return names


def acl_allows(acl: Iterable[str], groups: Iterable[str] | None) -> bool:
    """May a caller in ``groups`` read a document with ``acl``? An empty ACL is open to the whole tenant;
    ``groups=None`` is a caller without ACL checks (an operator, an admin key)."""
    allowed = set(acl)
    return groups is None or not allowed or not allowed.isdisjoint(groups)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector as parallel index/value tuples (BM25 term ids and weights)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Document:
    """One source file or URI after extraction."""

    doc_id: str
    source: str
    title: str
    text: str
    file_type: str
    content_hash: str
    tenant: str = DEFAULT_TENANT
    acl: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    modified_at: float | None = None


@dataclass(frozen=True)
class Chunk:
    """A retrievable span of one document; its fields are the point payload in the index."""

    doc_id: str
    chunk_index: int
    text: str
    source: str
    title: str
    char_start: int
    char_end: int
    heading_path: tuple[str, ...] = ()
    page_start: int | None = None
    page_end: int | None = None
    element_types: tuple[str, ...] = ()
    file_type: str = ""
    content_hash: str = ""
    chunk_hash: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    tenant: str = DEFAULT_TENANT
    acl: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    modified_at: float | None = None
    lang: str = ""  # ISO 639-1 language of the text (citewise.language); "" in chunks indexed before it
    ocr: bool = False  # some of the text was recognised by OCR (a scanned page, an image), not read from a text layer
    context: tuple[str, ...] = ()  # headings / lead line BM25 reads before the text (ingest.chunking.chunk_context)

    @property
    def id(self) -> str:
        return point_id(self.doc_id, self.chunk_index)

    def payload(self) -> dict[str, Any]:
        """The Qdrant payload: every field, plus ``tag_pairs`` (``key=value``) for indexed tag filters."""
        data = asdict(self)
        for key in ("heading_path", "element_types", "acl", "context"):
            data[key] = list(data[key])
        data["chunk_hash"] = self.chunk_hash or sha256_text(self.text)
        data["tag_pairs"] = tag_pairs(self.tags)
        return data

    def sparse_text(self) -> str:
        """What BM25 analyses: the context lines, a blank line, then the text (the text alone without context)."""
        return "\n".join(self.context) + "\n\n" + self.text if self.context else self.text

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Chunk:
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in payload.items() if k in known}
        for key in ("heading_path", "element_types", "acl", "context"):
            data[key] = tuple(data.get(key) or ())
        data["tags"] = dict(data.get("tags") or {})
        data["versions"] = dict(data.get("versions") or {})
        return cls(**data)


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with its final score and the score of each stage."""

    chunk: Chunk
    score: float
    stage_scores: dict[str, float] = field(default_factory=dict)
    explain: dict[str, Any] | None = None  # hybrid: rank and score in the dense and the BM25 list, weights used

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def chunk_id(self) -> str:
        return self.chunk.id


@dataclass(frozen=True)
class SearchResult:
    """What a search returns: ranked hits, wall time per stage, and what happened to reranking."""

    hits: tuple[Hit, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)
    rerank_status: str = "skipped"
    fusion: dict[str, Any] = field(default_factory=dict)  # mode, fusion method and weights, and their origin
    query_lang: str = ""  # the query's detected language (citewise.language)
    signals: tuple[str, ...] = ()  # the signals that ranked the hits: "dense", "sparse"
    signals_reason: str = ""  # why a signal of the requested mode was left out ("" when none was)


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer; ``quote`` is exactly ``document_text[char_start:char_end]``."""

    n: int
    doc_id: str
    chunk_id: str
    source: str
    title: str
    page: int | None
    char_start: int
    char_end: int
    quote: str
    ocr: bool = False  # the cited chunk's text was (partly) recognised by OCR: the quote may hold OCR errors


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    supported: bool
    citations: tuple[int, ...] = ()
    support_score: float = 0.0
    relevance: float | None = None  # question-sentence relevance (LLM answers); None where not measured
    shown: bool = True  # part of ``Answer.answer``; False: removed (kept here for inspection)
    reason: str = ""  # why not shown: "unsupported", "off_question"; "" when shown or only flagged


@dataclass(frozen=True)
class Usage:
    """Tokens of one answer; ``estimated`` when counted locally because the provider reported none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = False


@dataclass(frozen=True)
class Answer:
    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    sentences: tuple[AnswerSentence, ...]
    prompt: str
    model: str
    usage: Usage = field(default_factory=Usage)
    timings_ms: dict[str, float] = field(default_factory=dict)
    answer_id: str = ""
    prompt_hash: str = ""
    evidence: float = 0.0  # relevance of the best retrieved sentence to the question (0..1)
    answer_probability: float | None = None  # the evidence gate's calibrated P(the passages answer); None: no gate
    fallback_from: str = ""  # "provider:model" whose answer kept no supported, relevant sentence ("" if none)


def tag_pairs(tags: dict[str, str]) -> list[str]:
    """``key=value`` strings of ``tags``, sorted: what the indexed ``tag`` filter matches."""
    return [f"{k}={v}" for k, v in sorted(tags.items())]
