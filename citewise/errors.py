"""One exception tree for the whole project.

CitewiseError                 base; ``code`` is the machine-readable name, ``status`` the HTTP status
├── ConfigError               a setting is invalid or missing (names the variable and what is allowed)
├── IngestError               a file could not be ingested
│   └── UnsupportedFormat     no loader for that kind of file
├── IndexUnavailable          the Qdrant backend cannot be reached or opened
├── StorageFull               the data dir's disk is full, or below CITEWISE_INGEST__MIN_FREE_MB
├── ClusterUnavailable        the Ray cluster (``--engine ray``) cannot be reached or Ray is not installed
├── IndexSchemaMismatch       a collection exists with another schema (model, size, backend)
├── NotFound                  a document, job or answer id that does not exist
├── InvalidRequest            a request value that is out of range
│   └── SourceExists          ``sources add`` with a name already taken
├── SourceUnavailable         a source's folder or object store cannot be listed or read
├── ModelUnavailable          a model (encoder, reranker) cannot be loaded
├── GenerationError           the LLM failed or answered something unusable
│   └── UpstreamTimeout       the LLM (or another upstream) did not answer in time
└── AuthError                 missing or invalid credentials
    └── Forbidden             valid credentials, insufficient role
"""

from __future__ import annotations


class CitewiseError(Exception):
    """Base of every error citewise raises on purpose."""

    code = "citewise_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CitewiseError):
    code = "config_error"
    status = 500


class IngestError(CitewiseError):
    code = "ingest_error"
    status = 422


class UnsupportedFormat(IngestError):
    code = "unsupported_format"
    status = 415


class IndexUnavailable(CitewiseError):
    code = "index_unavailable"
    status = 503


class StorageFull(CitewiseError):
    code = "storage_full"
    status = 507


class ClusterUnavailable(CitewiseError):
    code = "cluster_unavailable"
    status = 503


class IndexSchemaMismatch(CitewiseError):
    code = "index_schema_mismatch"
    status = 409


class NotFound(CitewiseError):
    code = "not_found"
    status = 404


class InvalidRequest(CitewiseError):
    code = "invalid_request"
    status = 422


class SourceExists(InvalidRequest):
    code = "source_exists"
    status = 409


class SourceUnavailable(CitewiseError):
    code = "source_unavailable"
    status = 502


class ModelUnavailable(CitewiseError):
    code = "model_unavailable"
    status = 503


class GenerationError(CitewiseError):
    code = "generation_error"
    status = 502


class UpstreamTimeout(GenerationError):
    code = "upstream_timeout"
    status = 504


class AuthError(CitewiseError):
    code = "unauthorized"
    status = 401


class Forbidden(AuthError):
    code = "forbidden"
    status = 403
