"""Models adapted to one collection (``citewise tune encoder``, ``citewise tune reranker``), and which ones it uses.

An adapted model lives in ``<data_dir>/models/<collection>/<id>/`` (a sentence-transformers folder). Its
registration, ``<data_dir>/models/<collection>/registered.json``, names the active model and where it came
from. Every command that encodes for a collection (search, ask, ingest, the API, evals) loads the registered
model instead of ``CITEWISE_ENCODER__MODEL`` unless that variable is set explicitly; the collection's spec
records the model's folder as its encoder, so the mixing guard refuses any other model.

A cross-encoder trained by ``citewise tune reranker`` lives beside it (``models/<collection>/rr-<id>/``) and is
registered in ``reranker.json`` only when it beat no reranking on held-out queries; search and ask then rerank
with it (at its depth, token length and blend) unless ``CITEWISE_RETRIEVAL__RERANKER_MODEL`` is set explicitly.

While the collection's vectors are being re-encoded its spec names both models (``extra.reencoding_to``):
no encoder matches it, so no query runs against half-converted vectors until the re-encode completes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citewise.errors import ConfigError
from citewise.settings import EncoderSettings, RetrievalSettings
from citewise.storage import write_json_atomic

REGISTRATION_FILE = "registered.json"
RERANKER_FILE = "reranker.json"
KINDS = {"encoder": REGISTRATION_FILE, "reranker": RERANKER_FILE}  # what is registered -> its file
RERANK_FIELDS = ("rerank_depth", "rerank_max_length", "rerank_blend")  # set from a reranker's ``trained_on``
REENCODING_KEY = "reencoding_to"  # CollectionSpec.extra key while a re-encode runs
REGISTRATION_VERSION = 1


@dataclass(frozen=True)
class AdaptedModel:
    """An adapted model registered with a collection: its folder, the model it started from, how it was made."""

    collection: str
    model_id: str  # the folder name under models/<collection>/
    path: str  # absolute folder of the sentence-transformers model
    base_model: str
    trained_on: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": REGISTRATION_VERSION,
            "collection": self.collection,
            "model_id": self.model_id,
            "path": self.path,
            "base_model": self.base_model,
            "trained_on": self.trained_on,
            "report": self.report,
        }


def models_dir(data_dir: Path, collection: str) -> Path:
    return Path(data_dir) / "models" / collection


def registration_path(data_dir: Path, collection: str, kind: str = "encoder") -> Path:
    return models_dir(data_dir, collection) / KINDS[kind]


def load_registration(data_dir: Path, collection: str, kind: str = "encoder") -> AdaptedModel | None:
    """The collection's registered adapted model (``kind`` encoder or reranker), or None; a damaged file is a
    ``ConfigError``."""
    path = registration_path(data_dir, collection, kind)
    if not path.is_file():
        return None
    redo = "and re-ingest" if kind == "encoder" else "(search then runs without it)"
    fix = f"re-run `citewise tune {kind} --collection {collection} ...`, or delete {path} {redo}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"the {kind} registration {path} cannot be read ({exc}); {fix}") from None
    if not isinstance(data, dict) or data.get("version") != REGISTRATION_VERSION or "path" not in data:
        raise ConfigError(f"the {kind} registration {path} is not a version {REGISTRATION_VERSION} file; {fix}")
    if not Path(str(data["path"])).is_dir():
        raise ConfigError(f"the adapted {kind} {data['path']} registered for {collection!r} is missing; {fix}")
    return AdaptedModel(
        collection=str(data.get("collection", collection)),
        model_id=str(data.get("model_id", "")),
        path=str(data["path"]),
        base_model=str(data.get("base_model", "")),
        trained_on=dict(data.get("trained_on") or {}),
        report=dict(data.get("report") or {}),
    )


def save_registration(data_dir: Path, model: AdaptedModel, kind: str = "encoder") -> Path:
    """Write the registration atomically."""
    return write_json_atomic(registration_path(data_dir, model.collection, kind), model.as_json())


def remove_registration(data_dir: Path, collection: str, kind: str = "encoder") -> None:
    registration_path(data_dir, collection, kind).unlink(missing_ok=True)


def describe_training(model: AdaptedModel) -> str:
    """One line: what the model was trained on and what it changed on held-out queries."""
    t, r = model.trained_on, model.report
    line = f"{t.get('signal', '?')}, {t.get('pairs', '?')} pairs, {t.get('epochs', '?')} epoch(s)"
    before, after = r.get("before") or {}, r.get("after") or {}
    gains = [f"{m} {before[m]:.3f} -> {after[m]:.3f}" for m in before if m in after]
    return line + (f"; held-out nDCG@10 {', '.join(gains)}" if gains else "")


def encoder_settings_for(settings: EncoderSettings, data_dir: Path, collection: str | None) -> EncoderSettings:
    """``settings`` with the collection's adapted model, unless ``CITEWISE_ENCODER__MODEL`` is set explicitly.

    The adapted model keeps the languages of the model it was trained from.
    """
    if collection is None or "model" in settings.model_fields_set:
        return settings
    adapted = load_registration(data_dir, collection)
    if adapted is None:
        return settings
    from citewise.encoders import encoder_languages

    return settings.model_copy(update={"model": adapted.path, "languages": encoder_languages(settings)})


def reranker_settings_for(settings: RetrievalSettings, data_dir: Path, collection: str | None) -> RetrievalSettings:
    """``settings`` with the collection's trained reranker (its folder, depth, token length and blend), unless
    ``CITEWISE_RETRIEVAL__RERANKER_MODEL`` is set explicitly; each of the other fields likewise."""
    if collection is None or "reranker_model" in settings.model_fields_set:
        return settings
    trained = load_registration(data_dir, collection, "reranker")
    if trained is None:
        return settings
    update: dict[str, Any] = {"reranker_model": trained.path}
    for name in RERANK_FIELDS:
        if name not in settings.model_fields_set and trained.trained_on.get(name) is not None:
            update[name] = trained.trained_on[name]
    return RetrievalSettings(**{**settings.model_dump(exclude_unset=True), **update})
