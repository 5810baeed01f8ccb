"""All settings in one object: environment variables ``CITEWISE_*`` (nested with ``__``) or a ``.env`` file.

``load_settings()`` turns pydantic's validation errors into one ``ConfigError`` whose message names
each variable, the bad value and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from citewise.errors import ConfigError

ENV_PREFIX = "CITEWISE_"
DEFAULT_DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class QdrantSettings(BaseModel):
    backend: Literal["embedded", "server"] = "embedded"
    url: str = "http://localhost:6333"
    api_key: SecretStr | None = None
    prefer_grpc: bool = True
    timeout_s: float = Field(default=10.0, gt=0)
    collection: str = Field(default="citewise", pattern=r"^[A-Za-z0-9_\-]{1,64}$")

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        """``:memory:`` or an http(s) URL with a host; anything else fails here, not as a urllib3 traceback later."""
        if value == ":memory:":
            return value
        parsed = urlsplit(value.strip())
        try:
            parsed.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port; use e.g. http://localhost:6333") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{value!r} is not a Qdrant URL; use http(s)://host:port, e.g. http://localhost:6333")
        return value.strip()


class EncoderSettings(BaseModel):
    model: str = Field(default=DEFAULT_DENSE_MODEL, min_length=1)
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?|mps|auto)$")
    batch_size: int = Field(default=64, ge=1, le=4096)
    max_seq_length: int | None = Field(default=None, ge=8, le=8192)
    query_cache_size: int = Field(default=1024, ge=0)
    # inference backend: auto = the fastest quality-preserving one on CPU (onnx-int8), torch on CUDA
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    threads: int = Field(default=0, ge=0, le=1024)  # intra-op threads; 0 = the cores available to this process
    # ISO 639-1 languages the dense model understands ("*": any); None: from citewise.encoders.MODEL_LANGUAGES
    languages: tuple[str, ...] | None = None
    # text put before each query / passage (E5: "query: " / "passage: "); None: from the model's config
    # (config_sentence_transformers.json "prompts", or citewise.encoders.prompts.KNOWN_PROMPTS); "": none
    query_prompt: str | None = Field(default=None, max_length=1000)
    passage_prompt: str | None = Field(default=None, max_length=1000)


class IngestSettings(BaseModel):
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap: int = Field(default=32, ge=0, le=4096)
    # parser processes: -1 = auto (cores - 1, at least 1), 0 = parse in the calling process, N = N processes
    workers: int = Field(default=-1, ge=-1, le=256)
    max_file_mb: float = Field(default=200.0, gt=0)
    parse_timeout_s: float = Field(default=300.0, gt=0, le=86_400)  # per file, in parser processes
    batch_chunks: int = Field(default=256, ge=1, le=100_000)  # chunks encoded and written per step
    min_free_mb: float = Field(default=100.0, ge=0)  # refuse to write a batch with less free on the data dir (0: off)
    progress_every_s: float = Field(default=10.0, gt=0, le=3600)  # CLI progress line interval (not on a terminal)
    include: tuple[str, ...] = ()  # glob patterns a file must match (empty: every file)
    exclude: tuple[str, ...] = (".*", "*~", "~$*", "__pycache__", "*.pyc")  # globs on any path part
    # OCR (tesseract) of PDF pages without a text layer and of image files (ingest/ocr.py)
    ocr: bool = True
    ocr_languages: str = "eng"  # tesseract language packs: eng, eng+deu (or eng,deu)
    ocr_dpi: int = Field(default=300, ge=72, le=1200)  # PDF pages are rendered at this resolution

    @field_validator("ocr_languages", mode="before")
    @classmethod
    def _tesseract_languages(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            value = "+".join(str(v) for v in value)
        if not isinstance(value, str):
            return value
        langs = [v.strip() for v in value.replace(",", "+").split("+") if v.strip()]
        bad = next((v for v in langs if not v.replace("_", "").isalnum()), None)
        if not langs or bad is not None:
            raise ValueError(f"use tesseract language codes joined by '+', e.g. eng or eng+deu (got {bad or value!r})")
        return "+".join(langs)


class SourcesSettings(BaseModel):
    """Named sources (``citewise sources``, ``/v1/sources``): folders and object stores kept in sync."""

    # endpoint of an S3-compatible store (MinIO, R2, a local test server); credentials never go here: they come
    # from the usual AWS_* variables or profiles (AWS_PROFILE, ~/.aws/credentials, instance roles)
    s3_endpoint_url: str | None = None
    # folders an API admin may add as sources (POST /v1/sources); empty: only the CLI adds local folders
    api_local_roots: tuple[Path, ...] = ()
    watch_debounce_ms: int = Field(default=500, ge=10, le=60_000)  # changes closer than this are one sync
    tick_s: float = Field(default=2.0, gt=0, le=3600)  # how often `citewise serve` checks schedules and new sources
    fetch_batch: int = Field(default=64, ge=1, le=10_000)  # objects downloaded and ingested per step
    run_schedules: bool = True  # the API server runs watches and cron schedules (false: only explicit syncs)


class RaySettings(BaseModel):
    """The Ray ingest engine (``citewise ingest --engine ray``)."""

    # None/"local": start Ray on this machine; "auto": join the running cluster; "ray://host:10001": Ray Client
    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1, le=4096)  # only when Ray is started here
    parse_batch_files: int = Field(default=4, ge=1, le=10_000)  # files per parse + chunk task
    parse_tasks: int | None = Field(default=None, ge=1, le=100_000)  # max concurrent parse tasks (None: all CPUs)
    parse_memory_mb: int = Field(default=1024, ge=64)  # memory reserved per parse task (a PDF parser needs ~750 MB)
    encoders: int = Field(default=1, ge=1, le=1024)  # encoder actors (on GPUs: at most one per GPU)
    encoder_cpus: float = Field(default=1.0, gt=0, le=256)  # CPUs (torch threads) per encoder actor
    encoder_gpus: float | None = Field(default=None, ge=0, le=8)  # per actor; None: 1 when the cluster has GPUs
    encode_batch_docs: int = Field(default=16, ge=1, le=100_000)  # documents per encoder call
    writers: int = Field(default=2, ge=1, le=1024)  # server backend: actors writing to Qdrant directly
    object_store_mb: int | None = Field(default=None, ge=64)  # cap on in-flight data (None: Ray's default)
    progress_bars: bool = False  # Ray Data's own per-operator bars on stderr
    ship_code: bool = False  # upload citewise's packages to the cluster (when nodes don't have it installed)


class RetrievalSettings(BaseModel):
    mode: Literal["dense", "sparse", "hybrid"] = "hybrid"
    # hybrid fusion, done client-side in retrieval/fusion.py (the rules are explained there and in docs/retrieval.md);
    # dbsf chosen on dev queries only (SciFact train, SQuAD 0-5, XQuAD even articles) and re-checked on all 12 shared
    # sets with language routing (BENCHMARKS.md, "Fusion default, re-measured"). A collection's tuned profile
    # (citewise tune retrieval) replaces the fusion fields that are not set explicitly.
    fusion: Literal["rrf", "dbsf", "convex", "adaptive"] = "dbsf"
    fusion_norm: Literal["minmax", "zscore"] = "minmax"  # score normalisation of convex fusion
    rrf_k: int = Field(default=60, ge=1, le=1000)
    prefetch_limit: int = Field(default=100, ge=1, le=10000)
    rerank: bool = True
    reranker_model: str = "cross-encoder/ms-marco-MiniLM-L6-v2"
    rerank_depth: int = Field(default=30, ge=1, le=1000)
    rerank_budget_ms: float = Field(default=2000.0, gt=0)
    rerank_batch_size: int = Field(default=16, ge=1, le=1024)
    rerank_max_length: int = Field(default=512, ge=16, le=8192)  # word pieces of (query, chunk) the model sees
    # share of the first-stage (fused) score in the reranked order, both z-scored over the reranked head:
    # 0 = the cross-encoder alone; `citewise tune reranker` chooses it on held-out queries
    rerank_blend: float = Field(default=0.0, ge=0, lt=1)
    weights: tuple[float, float] | None = None  # (dense, sparse) weights of any fusion; None = equal

    @field_validator("weights")
    @classmethod
    def _weights_usable(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and (min(value) < 0 or sum(value) <= 0 or not all(math.isfinite(w) for w in value)):
            raise ValueError("retrieval.weights are (dense, sparse): two finite numbers >= 0, not both 0")
        return value


class GenerationSettings(BaseModel):
    llm: str = Field(default="extractive", min_length=1)
    model: str = ""
    base_url: str | None = None
    api_key: SecretStr | None = None
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=1, ge=0, le=10)
    prompt: str = Field(default="answer@2", pattern=r"^[a-z][a-z0-9_\-]*(@\d+)?$")
    # answer sentences that no passage supports or that do not address the question: removed from `answer`
    # (kept in `sentences` with a reason), or shown there marked (`flag`)
    unsupported: Literal["flag", "remove"] = "remove"
    max_sentences: int = Field(default=3, ge=1, le=20)  # most sentences of an LLM answer (asked for and kept)
    min_relevance: float = Field(default=0.6, ge=0, le=1)  # relevance an LLM sentence needs, times `evidence`
    fallback: Literal["extractive", "abstain"] = "extractive"  # when an LLM answer keeps no sentence
    repair: bool = False  # before falling back, re-ask once naming the sentences that were not kept
    min_support: float = Field(default=0.55, ge=0, le=1)  # support score a sentence needs to count as supported
    min_evidence: float = Field(default=0.4, ge=0, le=1)  # best question-passage relevance below this: abstain
    extractive_sentences: int = Field(default=2, ge=1, le=10)  # most sentences the extractive answerer quotes
    # USD per million tokens, (input, output), keyed by model name; unknown models cost 0 (local servers).
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "gpt-4o": (2.5, 10.0),
            "gpt-4o-mini": (0.15, 0.6),
            "gpt-4.1": (2.0, 8.0),
            "gpt-4.1-mini": (0.4, 1.6),
            "claude-3-5-haiku-latest": (0.8, 4.0),
            "claude-sonnet-4-0": (3.0, 15.0),
        }
    )


class EvalSettings(BaseModel):
    """The RAGAS judge of ``citewise eval answers``: any generation provider, apart from the answering LLM."""

    judge_llm: str = ""  # PROVIDER or PROVIDER:MODEL (openai-like, openai, ollama, anthropic); empty: no judge
    judge_model: str = ""
    judge_base_url: str | None = None  # default: CITEWISE_GENERATION__BASE_URL
    judge_api_key: SecretStr | None = None  # default: CITEWISE_GENERATION__API_KEY, then the provider's variable
    judge_max_tokens: int = Field(default=1024, ge=16, le=32768)
    judge_timeout_s: float = Field(default=120.0, gt=0)
    judge_workers: int = Field(default=2, ge=1, le=64)  # concurrent judge requests
    # send the JSON schema each RAGAS prompt states as the request's response_format, so a server that constrains
    # decoding to it always answers parseable JSON: "json_schema" (OpenAI, vLLM, llama.cpp's llama-server),
    # "json_object" (llama-cpp-python's server: {"type": "json_object", "schema": ...}); "none": plain text
    judge_response_format: Literal["none", "json_schema", "json_object"] = "none"


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_upload_mb: float = Field(default=50.0, gt=0)
    max_upload_files: int = Field(default=1000, ge=1, le=100_000)  # files in one POST /v1/ingest
    max_queued_jobs: int = Field(default=20, ge=1, le=10_000)  # queued + running upload jobs; more: 429
    job_timeout_s: float = Field(default=3600.0, gt=0, le=7 * 86_400)  # one upload job's run time
    keep_jobs: int = Field(default=1000, ge=1, le=1_000_000)  # finished jobs kept (jobs.sqlite), oldest dropped
    show_full_paths: bool = False  # API responses show server paths of CLI-ingested sources (default: relative)
    allow_open: bool = False  # serve without CITEWISE_API_KEYS_FILE on a non-loopback address
    llms: tuple[str, ...] = ()  # `llm` values clients may pick in /v1/ask besides the configured one and extractive
    max_concurrent_answers: int = Field(default=8, ge=1, le=1024)  # /v1/ask calls at once; more: 429 + Retry-After
    max_body_kb: float = Field(default=256.0, gt=0, le=1_000_000)  # a JSON request body (uploads: max_upload_mb)
    max_filter_values: int = Field(default=100, ge=1, le=100_000)  # values in one request's `filters`; more: 422


class McpSettings(BaseModel):
    """``citewise mcp`` (stdio): the API key its tools act as (tenant, role, ACL groups from
    CITEWISE_API_KEYS_FILE); without a keys file the tools are open (tenant ``default``), as the API is."""

    api_key: SecretStr | None = None


class ConversationSettings(BaseModel):
    """Conversations (``/v1/conversations``, ``citewise chat``): kept per tenant and key in ``conversations.sqlite``."""

    # days a conversation is kept after its last message; 0 keeps them until deleted
    retention_days: float = Field(default=30.0, ge=0, le=36_500)
    max_turns: int = Field(default=200, ge=1, le=10_000)  # messages in one conversation; more: start a new one
    max_conversations: int = Field(default=1000, ge=1, le=1_000_000)  # per key; the oldest are dropped
    # how a follow-up becomes a standalone question: auto = the configured LLM (rewrite@N prompt), else the rule
    rewrite: Literal["auto", "llm", "rule", "off"] = "auto"
    rewrite_prompt: str = Field(default="rewrite@1", pattern=r"^[a-z][a-z0-9_\-]*(@\d+)?$")


class AnswerCacheSettings(BaseModel):
    """The API's response cache of ``POST /v1/ask`` (api/cache.py): per tenant and ACL groups, keyed by the normalized
    question, the answer settings (llm, prompt, k, filters, rerank) and the collection's write counter."""

    enabled: bool = False
    max_entries: int = Field(default=1000, ge=1, le=1_000_000)  # least recently used answers dropped beyond it
    ttl_s: float = Field(default=3600.0, ge=0, le=30 * 86_400)  # an entry's lifetime; 0: until evicted/invalidated


class BudgetLimit(BaseModel):
    """Spend limits in US dollars per period: over ``soft_usd`` answers come from the extractive answerer,
    over ``hard_usd`` ``POST /v1/ask`` answers 429 until the period resets."""

    soft_usd: float | None = Field(default=None, ge=0)
    hard_usd: float | None = Field(default=None, ge=0)

    @field_validator("hard_usd")
    @classmethod
    def _hard_not_below_soft(cls, value: float | None, info: Any) -> float | None:
        soft = info.data.get("soft_usd")
        if value is not None and soft is not None and value < soft:
            raise ValueError(f"hard_usd ({value}) is below soft_usd ({soft}); the hard budget must be the larger")
        return value


class BudgetSettings(BaseModel):
    """LLM spend budgets (api/budgets.py), counted in ``<data_dir>/api/usage.sqlite`` per UTC day or month."""

    period: Literal["day", "month"] = "month"
    default: BudgetLimit | None = None  # every tenant without its own entry in `tenants`
    tenants: dict[str, BudgetLimit] = Field(default_factory=dict)
    # by key id: the first 8 hex digits of the key's SHA-256 (`citewise usage` and the logs show it)
    keys: dict[str, BudgetLimit] = Field(default_factory=dict)

    @field_validator("keys")
    @classmethod
    def _key_ids(cls, value: dict[str, BudgetLimit]) -> dict[str, BudgetLimit]:
        bad = [k for k in value if not (len(k) == 8 and all(c in "0123456789abcdef" for c in k))]
        if bad:
            raise ValueError(
                f"budgets.keys are key ids (8 lowercase hex digits of the key's SHA-256, see `citewise usage`); "
                f"got {bad[0]!r}"
            )
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Path(".citewise")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    qdrant: QdrantSettings = QdrantSettings()
    encoder: EncoderSettings = EncoderSettings()
    ingest: IngestSettings = IngestSettings()
    ray: RaySettings = RaySettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    generation: GenerationSettings = GenerationSettings()
    evals: EvalSettings = EvalSettings()
    api: ApiSettings = ApiSettings()
    mcp: McpSettings = McpSettings()
    conversations: ConversationSettings = ConversationSettings()
    answer_cache: AnswerCacheSettings = AnswerCacheSettings()
    budgets: BudgetSettings = BudgetSettings()
    sources: SourcesSettings = SourcesSettings()
    api_keys_file: Path | None = None
    experiments_file: Path | None = None  # the running A/B experiment of POST /v1/ask (api/experiments.py)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets shown as ``**********``."""
        return _mask(self.model_dump(mode="python"))


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _variable(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ``ConfigError`` naming every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not isinstance(p, int))
            allowed = err.get("ctx", {})
            detail = err["msg"]
            if "expected" in allowed:
                detail = f"expected {allowed['expected']}"
            lines.append(f"{_variable(loc)}={err.get('input')!r} is invalid: {detail}")
        raise ConfigError("Invalid settings:\n  " + "\n  ".join(lines)) from None
