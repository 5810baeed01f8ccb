"""Re-encode a collection's dense vectors with another model, in place and resumably.

``start_reencode`` records the plan in ``<data_dir>/models/<collection>/reencode.json`` and marks the
collection's spec as being re-encoded (no encoder then matches it: the mixing guard refuses every query).
``run_reencode`` walks the points in id order, encodes each page's chunk texts and overwrites only their dense
vectors (BM25 vectors and payloads stay), saving the scroll position after each page: a killed run continues
from the last saved page. At the end it registers the new model (or removes the registration, when going back
to the configured model), records the new encoder in the docstore (so incremental ingest does not redo
unchanged files) and writes the new spec.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.docstore import DocStore
from citewise.encoders import collection_spec
from citewise.encoders.adapted import (
    REENCODING_KEY,
    AdaptedModel,
    models_dir,
    remove_registration,
    save_registration,
)
from citewise.errors import IndexSchemaMismatch, InvalidRequest
from citewise.index import CollectionSpec, Index
from citewise.storage import write_json_atomic

STATE_FILE = "reencode.json"
PAGE = 256

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReencodeSummary:
    points: int
    total: int
    seconds: float
    resumed: bool
    encoder: str


def state_path(data_dir: Path, collection: str) -> Path:
    return models_dir(data_dir, collection) / STATE_FILE


def pending_reencode(data_dir: Path, collection: str) -> dict[str, Any] | None:
    """The plan of an unfinished re-encode of ``collection``, or None."""
    path = state_path(data_dir, collection)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"the re-encode state {path} cannot be read ({exc}); delete it and re-run") from None
    return data if isinstance(data, dict) else None


def _save_state(data_dir: Path, collection: str, state: dict[str, Any]) -> None:
    write_json_atomic(state_path(data_dir, collection), state, indent=1)


def start_reencode(
    index: Index,
    data_dir: Path,
    encoder: Any,
    registration: AdaptedModel | None,
    context: dict[str, Any] | None = None,
) -> None:
    """Plan a re-encode of ``index`` with ``encoder`` and lock the collection against queries until it is done.

    ``registration``: the adapted model to register when done (None: go back to the configured model).
    ``context``: what the caller wants back on resume (e.g. the before-metrics of a tune).
    """
    old = index.spec()
    if old is None:
        raise InvalidRequest(f"collection {index.collection!r} does not exist: ingest something first")
    new = collection_spec(encoder)
    if new.dense_size != old.dense_size:
        raise IndexSchemaMismatch(
            f"the new encoder makes {new.dense_size}-d vectors, collection {index.collection!r} holds "
            f"{old.dense_size}-d ones: re-ingest into a new collection instead"
        )
    state = {
        "collection": index.collection,
        "target_model": str(encoder.model_id),
        "target_fingerprint": str(encoder.fingerprint),
        "target_spec": new.as_metadata(),
        "old_spec": old.as_metadata(),
        "registration": None if registration is None else registration.as_json(),
        "offset": None,
        "done": 0,
        "total": index.count(),
        "started_at": time.time(),
        "context": context or {},
    }
    _save_state(data_dir, index.collection, state)  # first: a crash right after leaves a resumable plan
    extra = {**old.extra, REENCODING_KEY: str(encoder.fingerprint)}
    index.set_spec(CollectionSpec(old.dense_size, old.encoder, old.sparse, old.schema_version, extra))


def run_reencode(
    index: Index, data_dir: Path, encoder: Any, progress: Progress | None = None, page: int = PAGE
) -> ReencodeSummary:
    """Finish the planned re-encode of ``index`` with ``encoder`` (which must be the planned model)."""
    state = pending_reencode(data_dir, index.collection)
    if state is None:
        raise InvalidRequest(f"no re-encode of {index.collection!r} is planned")
    fp = str(encoder.fingerprint)
    if fp != state["target_fingerprint"]:
        raise IndexSchemaMismatch(
            f"the re-encode of {index.collection!r} was started with {state['target_fingerprint']}, not {fp}; "
            "finish it with the same encoder settings"
        )
    started, resumed, done = time.perf_counter(), state["done"] > 0, 0
    offset: str | None = state["offset"]
    while True:
        records, next_offset = index.scroll(limit=page, offset=offset)
        if records:
            vectors = encoder.encode([str(r.payload.get("text", "")) for r in records])
            index.replace_dense([r.id for r in records], vectors, fp)
            done += len(records)
        state["offset"], state["done"] = next_offset, state["done"] + len(records)
        flush = getattr(index, "flush", None)
        if flush is not None:
            flush()
        _save_state(data_dir, index.collection, state)
        if progress is not None:
            progress(int(state["done"]), int(state["total"]))
        if next_offset is None:
            break
        offset = next_offset
    _finish(index, data_dir, state)
    return ReencodeSummary(done, int(state["total"]), time.perf_counter() - started, resumed, fp)


def _finish(index: Index, data_dir: Path, state: dict[str, Any]) -> None:
    registration = state.get("registration")
    if registration is None:
        remove_registration(data_dir, index.collection)
    else:
        save_registration(data_dir, AdaptedModel(**{k: v for k, v in registration.items() if k != "version"}))
    docstore = DocStore(data_dir, index.collection)
    try:
        docstore.set_version("encoder", str(state["target_fingerprint"]))
    finally:
        docstore.close()
    index.set_spec(CollectionSpec.from_metadata(state["target_spec"]))  # last: queries may use it from now on
    state_path(data_dir, index.collection).unlink(missing_ok=True)
