"""Request and response bodies of the HTTP API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from citewise.errors import InvalidRequest
from retrieval.retriever import MAX_QUERY_CHARS

MAX_K = 100
FilterValue = str | int | float | list[str | int | float] | dict[str, str]


def _no_surrogates(value: Any) -> Any:
    """Reject text that is not valid Unicode (lone surrogates), anywhere in a value."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (it contains a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_surrogates(k)
            _no_surrogates(v)
    elif isinstance(value, list):
        for v in value:
            _no_surrogates(v)
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        return _no_surrogates(value)


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable error name, e.g. invalid_request, unauthorized, not_found")
    message: str = Field(description="what went wrong and what to do about it")
    request_id: str = Field(description="the X-Request-ID of the request, for the logs")


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        401: "missing or unknown API key",
        403: "the key's role may not use this route",
        404: "no such resource in your tenant",
        422: "invalid input",
        500: "internal error (no details are given to clients; see the logs by request id)",
        503: "the index or a model is unavailable",
    }.items()
}


class SearchRequest(_Body):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="what to search for")
    k: int = Field(10, ge=1, le=MAX_K, description="how many hits")
    filters: dict[str, FilterValue] | None = Field(
        None,
        description="doc_id, source (prefix), file_type, tag ({key: value}), modified_after, modified_before; "
        "a list means any of its values",
        examples=[{"file_type": ["pdf", "docx"], "tag": {"team": "legal"}}],
    )
    mode: Literal["dense", "sparse", "hybrid"] | None = Field(None, description="default: CITEWISE_RETRIEVAL__MODE")
    rerank: bool | None = Field(None, description="default: CITEWISE_RETRIEVAL__RERANK")


class HitOut(BaseModel):
    doc_id: str
    chunk_id: str
    score: float
    stage_scores: dict[str, float]
    source: str
    title: str
    heading_path: list[str]
    page_start: int | None
    page_end: int | None
    char_start: int
    char_end: int
    file_type: str
    tags: dict[str, str]
    text: str
    ocr: bool = Field(False, description="the text was (partly) recognised by OCR from a scanned page or an image")
    explain: dict[str, Any] | None = Field(
        None, description="hybrid: rank and score in the dense and the BM25 list, the fused score, the weights used"
    )


class SearchResponse(BaseModel):
    hits: list[HitOut]
    timings_ms: dict[str, float]
    rerank_status: str
    fusion: dict[str, Any] = Field(
        default_factory=dict, description="mode, fusion method, weights, prefetch depth, and where they came from"
    )
    query_lang: str = ""  # the query's detected language (ISO 639-1, "und" when unsure)
    signals: list[str] = []  # what ranked the hits: "dense", "sparse"
    signals_reason: str = ""  # why a signal of the requested mode was left out (e.g. a language MiniLM lacks)


class DocumentOut(BaseModel):
    doc_id: str
    source: str
    title: str
    file_type: str
    chunks: int
    size_bytes: int
    complete: bool
    tags: dict[str, str]
    modified_at: float | None
    ingested_at: float | None
    text: str | None = Field(None, description="the extracted text (only with ?text=true)")


class DocumentList(BaseModel):
    total: int
    offset: int
    limit: int
    documents: list[DocumentOut]


class BoxOut(BaseModel):
    left: float
    top: float
    width: float
    height: float


class PageOut(BaseModel):
    doc_id: str
    page: int
    pages: int = Field(description="the document's page count")
    width_pt: float
    height_pt: float
    image: str = Field(description="the page as PNG (GET, same auth)")
    quote: str = Field(description="text[char_start:char_end] of the document's extracted text")
    match: Literal["exact", "partial", "none"] = Field(
        description="exact: the whole quote is boxed; partial: its long runs shared with the page; none: not here"
    )
    coverage: float = Field(description="share of the quote's letters and digits that are boxed")
    boxes: list[BoxOut] = Field(description="fractions of the page's width and height, from its top-left corner")


class CallerOut(BaseModel):
    tenant: str
    role: Literal["reader", "writer", "admin"]
    key_id: str = Field(description="the first 8 hex digits of the key's SHA-256 ('open' without a keys file)")
    groups: list[str] | None = Field(description="the key's ACL groups; null: reads every group (admins)")
    open: bool = Field(description="the server runs without a keys file (every caller is an admin)")


class DeletedOut(BaseModel):
    doc_id: str
    deleted_chunks: int


class RetagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(
        ..., description="the document's new tags as key=value (replacing all of them; [] removes every tag)"
    )


class RetaggedOut(BaseModel):
    doc_id: str
    tags: dict[str, str]
    chunks: int


class JobCreated(BaseModel):
    job_id: str
    state: str
    files: list[str]


class JobProgress(BaseModel):
    files_total: int
    files_done: int
    files_failed: int
    chunks_written: int
    fraction: float
    phase: str
    files_per_s: float = 0.0  # since the job started
    chunks_per_s: float = 0.0
    eta_s: float | None = None  # seconds left at that pace, while running


class JobFailure(BaseModel):
    file: str
    reason: str


class JobOut(BaseModel):
    job_id: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    files: list[str]
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: JobProgress
    failures: list[JobFailure]
    result: dict[str, Any] | None
    error: str | None


class AskRequest(_Body):
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the question")
    k: int = Field(5, ge=1, le=50, description="how many passages to retrieve")
    filters: dict[str, FilterValue] | None = Field(None, description="as in /v1/search")
    llm: str | None = Field(
        None, max_length=200, description="PROVIDER or PROVIDER:MODEL; only those the server offers (see docs)"
    )
    prompt: str | None = Field(None, max_length=100, description="NAME@VERSION of a prompt template")
    stream: bool = Field(False, description="answer as Server-Sent Events: token, citations, done, error")


class CitationOut(BaseModel):
    n: int
    doc_id: str
    chunk_id: str
    source: str
    title: str
    page: int | None
    char_start: int
    char_end: int
    quote: str
    ocr: bool = Field(False, description="the quoted chunk was (partly) recognised by OCR: it may hold OCR errors")


class SentenceOut(BaseModel):
    text: str
    supported: bool
    citations: list[int]
    support: float
    relevance: float | None = Field(None, description="question-sentence relevance (LLM answers)")
    shown: bool = Field(True, description="part of `answer`; false: removed, kept here for inspection")
    reason: str | None = Field(None, description="why it does not count: unsupported, off_question")


class AnswerOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    answer: str
    abstained: bool
    citations: list[CitationOut]
    sentences: list[SentenceOut]
    prompt: str
    model: str
    fallback_from: str | None = Field(
        None, description="the LLM (provider:model) whose answer kept no supported, relevant sentence"
    )
    usage: dict[str, Any]
    timings_ms: dict[str, float]
    answer_id: str


class FeedbackRequest(_Body):
    answer_id: str = Field(min_length=1, max_length=128)
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=4000)
    correction: str | None = Field(None, max_length=20000, description="what the answer should have said")


class FeedbackCreated(BaseModel):
    feedback_id: int


class FeedbackList(BaseModel):
    total: int
    offset: int
    limit: int
    feedback: list[dict[str, Any]]


def checked_filters(filters: dict[str, FilterValue] | None, most: int) -> dict[str, FilterValue] | None:
    """``filters`` if they hold at most ``most`` values (a list or a tag mapping counts each entry), else 422."""
    values = sum(len(v) if isinstance(v, list | dict) else 1 for v in (filters or {}).values())
    if values > most:
        raise InvalidRequest(
            f"filters: {values} values, more than the {most} allowed per request; narrow the filter (fewer doc ids, "
            "sources or tags) or split the request (the server's limit is CITEWISE_API__MAX_FILTER_VALUES)"
        )
    return filters


class SourceIn(_Body):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="the source's name, unique")
    uri: str = Field(
        min_length=1,
        max_length=2000,
        description="s3://BUCKET/PREFIX, gs://..., az://..., or a folder under CITEWISE_SOURCES__API_LOCAL_ROOTS; "
        "never with credentials (they come from the server's environment)",
    )
    schedule: str | None = Field(None, max_length=200, description="cron expression, e.g. '0 2 * * *'")
    watch: bool = Field(False, description="local folders: sync on every change")
    tags: dict[str, str] = Field(default_factory=dict, description="tags on every chunk")
    acl: list[str] = Field(default_factory=list, max_length=100, description="ACL groups allowed to read")
    options: dict[str, str | bool | int | float] = Field(
        default_factory=dict, description="fsspec storage options without secrets (endpoint_url, region_name)"
    )
    check: bool = Field(True, description="check that the bucket exists before adding")
    include: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="globs on the path inside the source an object must match ('*.pdf', 'docs/**'; docs/sources.md)",
    )
    exclude: list[str] = Field(
        default_factory=list, max_length=100, description="globs that leave an object out ('**/drafts/**')"
    )


class SourceGlobsIn(_Body):
    include: list[str] | None = Field(None, max_length=100, description="replaces the include globs ([]: none)")
    exclude: list[str] | None = Field(None, max_length=100, description="replaces the exclude globs ([]: none)")


class SyncStatusOut(BaseModel):
    started_at: float
    finished_at: float
    objects: int
    ingested: int
    changed: int
    unchanged: int
    removed: int
    failed: int
    list_s: float
    elapsed_s: float
    error: str | None
    failures: list[dict[str, str]]


class SourceOut(BaseModel):
    name: str
    uri: str
    tenant: str
    acl: list[str]
    tags: dict[str, str]
    schedule: str | None
    watch: bool
    options: dict[str, Any]
    created_at: float
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    last_sync: SyncStatusOut | None = Field(None, description="how the last sync ended (none yet: null)")


class SourceList(BaseModel):
    sources: list[SourceOut]


class SourceSyncOut(BaseModel):
    source: str
    job_id: str = Field(description="poll GET /v1/jobs/{job_id}")
    state: str


class SourceRemoved(BaseModel):
    source: str
    documents_deleted: int
