"""Finding the files to ingest, and the identity of a document (source, doc id, content hash)."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from citewise.errors import InvalidRequest
from citewise.types import DEFAULT_TENANT


def doc_id_for(source: str, tenant: str = DEFAULT_TENANT, acl: Iterable[str] = ()) -> str:
    """Deterministic document id: the first 32 hex digits of sha256("<tenant>\\n<source>[\\n<acl groups>]").

    ``source`` is the absolute, resolved path of a file (or the name a caller gives, e.g. an upload's),
    so the same file in the same tenant always gets the same id, on every machine and run. The ACL groups
    are part of the identity: a writer uploading ``salaries.txt`` without groups creates a new document,
    never replaces the ``acl=hr`` one it cannot read (documents without groups keep their old ids).
    """
    groups = sorted(set(acl))
    key = f"{tenant}\n{source}" + (f"\n{','.join(groups)}" if groups else "")
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def source_for(path: Path) -> str:
    return str(path.resolve())


def label_for(path: Path, roots: Sequence[Path]) -> str:
    """What API clients are shown for a file: its path relative to the ingested folder it was found under
    (or its name), never the server's absolute path."""
    for root in roots:
        if root.is_file() and root == path:
            return path.name
        if path.is_relative_to(root) and path != root:
            return path.relative_to(root).as_posix()
    return path.name


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    return matches(path.relative_to(root).as_posix() if path != root else path.name, patterns)


def matches(rel: str, patterns: Sequence[str]) -> bool:
    """Does the relative path ``rel`` ("a/b.txt"), or any one of its parts, match one of the globs?"""
    parts = rel.split("/")
    return any(fnmatch.fnmatch(rel, p) or any(fnmatch.fnmatch(part, p) for part in parts) for p in patterns)


def discover(paths: Iterable[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Path]:
    """Files under ``paths`` (recursive), filtered by globs, resolved, deduplicated and sorted.

    ``include``/``exclude`` match the path relative to the argument it was found under, or any one of its
    parts (so ``.*`` skips hidden files and folders). A path given explicitly as a file is always taken.
    Raises ``InvalidRequest`` for a path that does not exist.
    """
    found: set[Path] = set()
    for raw in paths:
        root = Path(raw).expanduser()
        if not root.exists():
            raise InvalidRequest(f"path not found: {raw}; check the spelling or mount")
        if root.is_file():
            found.add(root.resolve())
            continue
        for path in root.rglob("*"):
            if not path.is_file() or (path.is_symlink() and not path.resolve().is_file()):
                continue
            if exclude and _matches(path, root, exclude):
                continue
            if include and not _matches(path, root, include):
                continue
            found.add(path.resolve())
    return sorted(found)
