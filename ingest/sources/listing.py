"""Listing a source's objects with their change markers, and fetching the changed ones.

A local folder is walked like ``citewise ingest`` walks it (``ingest.discovery.discover``, the same globs);
its marker is ``mtime_ns:size``. An object store is listed through fsspec in one recursive listing
(``find``, paged by the store); its marker is the store's ``ETag`` (or generation/md5/last-modified where a
store has no ETag) and size. Unchanged objects therefore cost the listing only. Both kinds then keep only the
objects the source's own ``--include``/``--exclude`` globs select (``ingest.sources.globs``), so an object they
leave out is pruned by the sync like a deleted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest, SourceUnavailable
from citewise.settings import Settings
from ingest.discovery import discover, matches, source_for
from ingest.sources.spec import CREDENTIALS_HINT, SourceSpec

MARKER_FIELDS = ("ETag", "etag", "generation", "md5Hash", "md5_hash", "content_md5", "LastModified", "last_modified")


@dataclass(frozen=True)
class SourceObject:
    """One object: ``key`` relative to the source's root, ``uri`` the document's source (an absolute path for
    a local folder, ``s3://bucket/key`` for an object store), ``marker`` what changes when its content does."""

    key: str
    uri: str
    marker: str
    size: int
    path: str  # where to read it: the local path, or the fsspec path ("bucket/key")


class SourceReader:
    """Lists one source and fetches its objects (``fetch``: only for object stores)."""

    def __init__(self, spec: SourceSpec, settings: Settings) -> None:
        self.spec = spec
        self.include = tuple(settings.ingest.include)
        self.exclude = tuple(settings.ingest.exclude)
        self.globs = spec.globs  # the source's own --include/--exclude, on the key (ingest.sources.globs)
        self.fs: Any = None
        if not spec.is_local:
            self.fs = open_filesystem(spec, settings)

    def objects(self) -> list[SourceObject]:
        """Every object of the source, sorted by key; ``SourceUnavailable`` when it cannot be listed (nothing is
        pruned then: a missing folder or bucket is not an empty one)."""
        return self._list_local() if self.spec.is_local else self._list_remote()

    def fetch(self, obj: SourceObject, dest: Path) -> None:
        try:
            self.fs.get_file(obj.path, str(dest))
        except Exception as exc:
            raise SourceUnavailable(f"cannot download {obj.uri}: {type(exc).__name__}: {exc}") from None

    def _list_local(self) -> list[SourceObject]:
        root = Path(self.spec.uri)
        if not root.exists():
            raise SourceUnavailable(
                f"source {self.spec.name!r}: folder {root} is gone (unmounted or moved); nothing was pruned. Mount "
                f"it again, or remove the source (`citewise sources remove {self.spec.name} --purge`)"
            )
        out = []
        for path in discover([root], self.include, self.exclude):
            try:
                stat = path.stat()
            except OSError:
                continue  # deleted between the walk and the stat: gone
            key = _key(path, root)
            if not self.globs.selects(key):
                continue
            out.append(
                SourceObject(key, source_for(path), f"{stat.st_mtime_ns}:{stat.st_size}", stat.st_size, str(path))
            )
        return out

    def _list_remote(self) -> list[SourceObject]:
        root = self.spec.root
        try:
            found = self.fs.find(root, detail=True)
        except FileNotFoundError as exc:
            raise SourceUnavailable(
                f"source {self.spec.name!r}: {self.spec.uri} does not exist ({exc}); nothing was pruned. Create the "
                "bucket or fix the URI (remove the source and add it again); for an S3-compatible server check "
                "CITEWISE_SOURCES__S3_ENDPOINT_URL"
            ) from None
        except PermissionError as exc:
            raise SourceUnavailable(
                f"source {self.spec.name!r}: access denied to {self.spec.uri} ({exc}); {CREDENTIALS_HINT}"
            ) from None
        except Exception as exc:
            raise SourceUnavailable(
                f"source {self.spec.name!r}: cannot list {self.spec.uri} ({type(exc).__name__}: {exc}); nothing was "
                "pruned. Check the endpoint (CITEWISE_SOURCES__S3_ENDPOINT_URL), the network and the credentials"
            ) from None
        out = []
        prefix = root.rstrip("/") + "/"
        protocol = self.spec.uri.split("://", 1)[0]
        for path, info in sorted(found.items()):
            if info.get("type", "file") != "file" or path.endswith("/"):
                continue
            key = path[len(prefix) :] if path.startswith(prefix) else path.rsplit("/", 1)[-1]
            if self.exclude and matches(key, self.exclude):
                continue
            if self.include and not matches(key, self.include):
                continue
            if not self.globs.selects(key):
                continue
            size = int(info.get("size") or info.get("Size") or 0)
            out.append(SourceObject(key, f"{protocol}://{path}", _marker(info, size), size, path))
        return out


def _key(path: Path, root: Path) -> str:
    """``path`` relative to the source's folder; a file reached through a symlink that leads outside it is keyed
    by its resolved path (its document's source is that path too)."""
    if not root.is_dir():
        return path.name
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _marker(info: dict[str, Any], size: int) -> str:
    for name in MARKER_FIELDS:
        value = info.get(name)
        if value:
            return f"{str(value).strip(chr(34))}:{size}"
    return f"?:{size}"


def open_filesystem(spec: SourceSpec, settings: Settings) -> Any:
    """A fresh fsspec filesystem for ``spec`` (no instance or listing cache: every sync sees the store as it is).

    Credentials are the library's own concern (environment, profiles, instance roles); the S3 endpoint comes from
    the source's ``endpoint_url`` option or ``CITEWISE_SOURCES__S3_ENDPOINT_URL``."""
    import fsspec

    options: dict[str, Any] = dict(spec.options)
    if spec.protocol == "s3" and settings.sources.s3_endpoint_url and "endpoint_url" not in options:
        options["endpoint_url"] = settings.sources.s3_endpoint_url
    try:
        return fsspec.filesystem(spec.protocol, skip_instance_cache=True, use_listings_cache=False, **options)
    except (ImportError, ValueError, TypeError) as exc:
        raise SourceUnavailable(f"source {spec.name!r}: cannot open {spec.protocol}:// ({exc})") from None


def check_reachable(spec: SourceSpec, settings: Settings) -> None:
    """For ``sources add``: an object store's bucket must exist (``InvalidRequest`` saying what to do), and be
    reachable (``SourceUnavailable``). Local folders were checked by ``make_spec``."""
    if spec.is_local:
        return
    fs = open_filesystem(spec, settings)
    bucket = spec.root.split("/", 1)[0]
    endpoint = spec.options.get("endpoint_url") or settings.sources.s3_endpoint_url
    where = f" at {endpoint}" if endpoint and spec.protocol == "s3" else ""
    try:
        exists = fs.exists(bucket)
    except PermissionError as exc:
        raise SourceUnavailable(
            f"access denied to {spec.protocol}://{bucket}{where} ({exc}); {CREDENTIALS_HINT}"
        ) from None
    except Exception as exc:
        raise SourceUnavailable(
            f"cannot reach {spec.protocol}://{bucket}{where} ({type(exc).__name__}: {exc}); check the endpoint "
            "(CITEWISE_SOURCES__S3_ENDPOINT_URL or --option endpoint_url=...), the network and the credentials"
        ) from None
    if not exists:
        raise InvalidRequest(
            f"bucket {bucket!r} not found{where}: create it first or fix the URI (for an S3-compatible server, "
            "set CITEWISE_SOURCES__S3_ENDPOINT_URL or --option endpoint_url=...); --no-check adds it anyway"
        )
