"""What API clients see of a document's source: never a server file system path.

A document's ``source`` is its identity (for ``citewise ingest``, the file's absolute path); clients get its
``label`` instead: the path relative to the folder that was ingested, or an upload's ``upload:<name>``
(``CITEWISE_API__SHOW_FULL_PATHS=true`` shows the sources themselves). Error texts lose the data dir's path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from citewise.docstore import DocStore
from citewise.settings import Settings

DATA_DIR = "<data dir>"


def redact_paths(text: str, settings: Settings) -> str:
    """``text`` with the server's data dir (as configured and as resolved) replaced by ``<data dir>``."""
    data_dir = Path(settings.data_dir).expanduser()
    for form in sorted({str(data_dir.resolve()), str(data_dir.absolute())}, key=len, reverse=True):
        if len(form) > 1:
            text = text.replace(form, DATA_DIR)
    return text


def _is_path(source: str) -> bool:
    return PurePosixPath(source).is_absolute() or PureWindowsPath(source).is_absolute()


def public_source(source: str, label: str | None, settings: Settings) -> str:
    """The source a client is shown: the label, else (a store from before labels) the file's name."""
    if settings.api.show_full_paths or not _is_path(source):
        return source
    return label or PurePosixPath(source.replace("\\", "/")).name


def relabel(data: Any, store: DocStore | None, settings: Settings) -> Any:
    """``data`` (search hits, an answer, citations: any JSON with ``{"doc_id", "source"}`` objects) with every
    server path of those sources replaced by what the client may see, in every string that quotes it."""
    if settings.api.show_full_paths:
        return data
    found: dict[str, str] = {}
    _collect(data, found)
    paths = {doc: src for doc, src in found.items() if _is_path(src)}
    if not paths:
        return data
    labels = store.labels(list(paths)) if store is not None else {}
    swap = {src: public_source(src, labels.get(doc), settings) for doc, src in paths.items()}
    ordered = sorted(swap.items(), key=lambda kv: len(kv[0]), reverse=True)

    def fix(text: str) -> str:
        for old, new in ordered:
            if old in text:
                text = text.replace(old, new)
        return text

    return _walk(data, fix)


def _collect(data: Any, found: dict[str, str]) -> None:
    if isinstance(data, dict):
        if isinstance(data.get("doc_id"), str) and isinstance(data.get("source"), str):
            found[data["doc_id"]] = data["source"]
        for value in data.values():
            _collect(value, found)
    elif isinstance(data, list):
        for value in data:
            _collect(value, found)


def _walk(data: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(data, str):
        return fix(data)
    if isinstance(data, dict):
        return {k: _walk(v, fix) for k, v in data.items()}
    if isinstance(data, list):
        return [_walk(v, fix) for v in data]
    return data
