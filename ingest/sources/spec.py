"""A source: a named folder or object-store prefix kept in sync with the index, and the checks on what defines it.

``make_spec`` validates everything a user gives (name, URI, schedule, options) and refuses anything that would
store a secret: credentials in the URI, a query string (SAS tokens, signatures), storage options named like a
key or a password. Credentials come from the environment or profiles of the store's fsspec library (``AWS_*``,
``AWS_PROFILE``, instance roles; ``GOOGLE_APPLICATION_CREDENTIALS``; ``AZURE_STORAGE_*``).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from citewise.errors import InvalidRequest
from citewise.types import DEFAULT_TENANT, checked_names
from ingest.sources.globs import KeyFilter, check_globs

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LOCAL_SCHEMES = ("", "file")
# scheme -> (fsspec protocol, the package that provides it)
REMOTE_SCHEMES = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gs", "gcsfs"),
    "gcs": ("gs", "gcsfs"),
    "az": ("az", "adlfs"),
    "abfs": ("abfs", "adlfs"),
    "abfss": ("abfs", "adlfs"),
}
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "sas", "signature", "connection_string")
CREDENTIALS_HINT = (
    "credentials are never stored in a source: remove them and give them to the process that syncs it through "
    "the store's usual mechanism (S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE; GCS: "
    "GOOGLE_APPLICATION_CREDENTIALS; Azure: AZURE_STORAGE_ACCOUNT_NAME/AZURE_STORAGE_ACCOUNT_KEY) - see docs/sources.md"
)
SUPPORTED = "a local folder, file://PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX"


@dataclass(frozen=True)
class SourceSpec:
    """What ``citewise sources add`` stored. ``uri`` is normalised: a local folder is an absolute path."""

    name: str
    uri: str
    tenant: str = DEFAULT_TENANT
    acl: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    schedule: str | None = None  # cron expression run by `citewise serve`
    watch: bool = False  # local folders: `citewise serve` syncs on every change
    options: dict[str, Any] = field(default_factory=dict)  # fsspec storage options (never secrets)
    created_at: float = field(default_factory=time.time)
    include: tuple[str, ...] = ()  # globs on the key (path relative to the root) an object must match
    exclude: tuple[str, ...] = ()  # globs that leave an object out (ingest.sources.globs)

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def protocol(self) -> str:
        scheme = urlsplit(self.uri).scheme
        return REMOTE_SCHEMES[scheme][0] if scheme in REMOTE_SCHEMES else "file"

    @property
    def globs(self) -> KeyFilter:
        return KeyFilter(self.include, self.exclude)

    @property
    def root(self) -> str:
        """Local: the folder's absolute path; remote: ``bucket/prefix`` as fsspec names it."""
        if self.is_local:
            return self.uri
        parts = urlsplit(self.uri)
        return f"{parts.netloc}{parts.path}".rstrip("/")

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data["acl"] = list(self.acl)
        data["include"] = list(self.include)
        data["exclude"] = list(self.exclude)
        return data

    @classmethod
    def from_body(cls, data: Mapping[str, Any]) -> SourceSpec:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        for name in ("acl", "include", "exclude"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


def make_spec(
    name: str,
    uri: str,
    *,
    tenant: str = DEFAULT_TENANT,
    acl: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    schedule: str | None = None,
    watch: bool = False,
    options: Mapping[str, Any] | None = None,
    local_roots: Sequence[Path] | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> SourceSpec:
    """A checked ``SourceSpec``; ``InvalidRequest`` saying what to do for anything wrong. ``local_roots`` (the API):
    local folders must lie under one of them."""
    if not NAME.match(name or ""):
        raise InvalidRequest(
            f"source name {name!r} is invalid: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (e.g. handbook, s3-contracts)"
        )
    checked_names([tenant], "tenant")
    groups = checked_names(acl, "ACL group")
    if schedule is not None and watch:
        raise InvalidRequest("choose --schedule CRON or --watch, not both (a watched folder syncs on every change)")
    if schedule is not None:
        schedule = check_schedule(schedule)
    storage = check_options(options or {})
    included, excluded = check_globs(include, "include"), check_globs(exclude, "exclude")
    normalised = normalise_uri(uri, local_roots)
    spec = SourceSpec(
        name,
        normalised,
        tenant,
        groups,
        dict(sorted((tags or {}).items())),
        schedule,
        watch,
        storage,
        include=included,
        exclude=excluded,
    )
    if watch and not spec.is_local:
        raise InvalidRequest(
            f"--watch needs a local folder; {spec.uri} is an object store, which is polled: use --schedule, e.g. "
            "--schedule '*/15 * * * *' (every 15 minutes)"
        )
    if watch and not Path(spec.uri).is_dir():
        raise InvalidRequest(f"--watch needs a folder; {spec.uri} is a file")
    return spec


def with_globs(
    spec: SourceSpec, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> SourceSpec:
    """``spec`` with its include and/or exclude globs replaced (None: kept; empty: cleared), checked."""
    return dataclasses.replace(
        spec,
        include=spec.include if include is None else check_globs(include, "include"),
        exclude=spec.exclude if exclude is None else check_globs(exclude, "exclude"),
    )


def check_schedule(expr: str) -> str:
    from croniter import croniter

    text = " ".join(expr.split())
    if not text or not croniter.is_valid(text) or len(text.split()) not in (5, 6):
        raise InvalidRequest(
            f"--schedule {expr!r} is not a cron expression: give five fields 'minute hour day-of-month month "
            "day-of-week', e.g. '0 2 * * *' (every night at 02:00) or '*/15 * * * *' (every 15 minutes)"
        )
    return text


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Storage options without secrets (``endpoint_url``, ``region_name``, ``anon`` ...); strings "true"/"false"
    become booleans."""
    out: dict[str, Any] = {}
    for key, value in sorted(options.items()):
        lowered = key.lower()
        if any(word in lowered for word in SECRET_WORDS):
            raise InvalidRequest(f"storage option {key!r} looks like a credential; {CREDENTIALS_HINT}")
        if isinstance(value, str) and value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
        else:
            out[key] = value
    return out


def normalise_uri(uri: str, local_roots: Sequence[Path] | None = None) -> str:
    """Local folders as absolute paths (they must exist); object-store URIs as ``scheme://bucket/prefix``."""
    raw = (uri or "").strip()
    if not raw:
        raise InvalidRequest(f"a source needs a URI: {SUPPORTED}")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if parts.username or parts.password or ("@" in parts.netloc and scheme not in LOCAL_SCHEMES):
        raise InvalidRequest(f"the URI {_redacted(raw)} carries credentials (user:secret@); {CREDENTIALS_HINT}")
    if scheme and (parts.query or parts.fragment):  # a plain local path may contain ? or #
        raise InvalidRequest(
            f"the URI {_redacted(raw)} has a query string or fragment (they often carry SAS tokens or signatures); "
            f"give {SUPPORTED} without '?...', and {CREDENTIALS_HINT}"
        )
    if scheme in LOCAL_SCHEMES:
        return _local(parts.path if scheme == "file" else raw, local_roots)
    if scheme not in REMOTE_SCHEMES:
        raise InvalidRequest(f"unknown URI scheme {scheme + '://'!r} in {raw!r}: a source is {SUPPORTED}")
    protocol, package = REMOTE_SCHEMES[scheme]
    if not parts.netloc:
        raise InvalidRequest(f"{raw!r} names no bucket: write {scheme}://BUCKET/PREFIX (the prefix is optional)")
    require_protocol(protocol, package)
    path = parts.path.rstrip("/")
    return f"{scheme}://{parts.netloc}{path}"


def require_protocol(protocol: str, package: str) -> None:
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError):
        extra = " (or pip install 'citewise[s3]')" if package == "s3fs" else ""
        raise InvalidRequest(
            f"{protocol}:// sources need the {package} package, which is not installed: pip install {package}{extra}"
        ) from None


def _local(path: str, local_roots: Sequence[Path] | None) -> str:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InvalidRequest(f"folder not found: {path}; check the spelling or mount (a source URI is {SUPPORTED})")
    resolved = folder.resolve()
    if local_roots is not None:
        roots = [Path(r).expanduser().resolve() for r in local_roots]
        if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
            allowed = ", ".join(str(r) for r in roots) or "none configured"
            raise InvalidRequest(
                f"over the API a local folder must lie under CITEWISE_SOURCES__API_LOCAL_ROOTS ({allowed}); add it "
                "with `citewise sources add` on the server, or list its parent in that setting"
            )
    return str(resolved)


def _redacted(uri: str) -> str:
    """``uri`` with its user info and query replaced by ``***`` (so an error message never repeats a secret)."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    shown = f"{parts.scheme}://***@{netloc}" if "@" in parts.netloc else f"{parts.scheme}://{netloc}"
    return shown + parts.path + ("?***" if parts.query else "")
