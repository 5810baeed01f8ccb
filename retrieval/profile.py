"""A collection's retrieval profile: fusion settings chosen for it by ``citewise tune retrieval``.

Stored as ``<data_dir>/profiles/<collection>.json``. Search and ask use it for every fusion field that is not set
explicitly (by an environment variable or a constructor argument); ``citewise index stats`` shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from citewise.errors import ConfigError
from citewise.settings import RetrievalSettings, Settings
from citewise.storage import write_json_atomic

PROFILE_VERSION = 1
PROFILE_FIELDS = ("fusion", "fusion_norm", "weights", "rrf_k", "prefetch_limit")


@dataclass(frozen=True)
class RetrievalProfile:
    """The chosen settings (a subset of ``RetrievalSettings``) and how they were chosen."""

    collection: str
    settings: dict[str, Any]
    tuned_on: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": PROFILE_VERSION,
            "collection": self.collection,
            "settings": self.settings,
            "tuned_on": self.tuned_on,
            "report": self.report,
        }


def profile_path(data_dir: Path, collection: str) -> Path:
    return Path(data_dir) / "profiles" / f"{collection}.json"


def load_profile(data_dir: Path, collection: str) -> RetrievalProfile | None:
    """The stored profile, or None; a damaged file is a ``ConfigError`` that says how to fix it."""
    path = profile_path(data_dir, collection)
    if not path.is_file():
        return None
    fix = f"re-run `citewise tune retrieval --collection {collection}` or delete {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"the retrieval profile {path} cannot be read ({exc}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise ConfigError(f"the retrieval profile {path} has no 'settings' object; {fix}")
    if data.get("version") != PROFILE_VERSION:
        raise ConfigError(
            f"the retrieval profile {path} has version {data.get('version')!r}, not {PROFILE_VERSION}; {fix}"
        )
    chosen = data["settings"]
    unknown = sorted(set(chosen) - set(PROFILE_FIELDS))
    if unknown:
        raise ConfigError(f"the retrieval profile {path} sets unknown fields {', '.join(unknown)}; {fix}")
    try:
        RetrievalSettings(**chosen)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"the retrieval profile {path} is invalid ({where}: {first['msg']}); {fix}") from None
    return RetrievalProfile(
        collection=str(data.get("collection", collection)),
        settings=dict(chosen),
        tuned_on=dict(data.get("tuned_on") or {}),
        report=dict(data.get("report") or {}),
    )


def save_profile(data_dir: Path, profile: RetrievalProfile) -> Path:
    """Write the profile atomically (a reader never sees half a file)."""
    return write_json_atomic(profile_path(data_dir, profile.collection), profile.as_json())


def apply_profile(cfg: RetrievalSettings, profile: RetrievalProfile | None) -> tuple[RetrievalSettings, str]:
    """``cfg`` with the profile's fields that ``cfg`` does not set explicitly; and where fusion came from."""
    if profile is None:
        return cfg, "settings"
    update = {k: v for k, v in profile.settings.items() if k not in cfg.model_fields_set}
    if not update:
        return cfg, "settings (overrides the profile)"
    merged = RetrievalSettings(**{**cfg.model_dump(exclude_unset=True), **update})
    return merged, "profile"


def effective_retrieval(settings: Settings, collection: str | None = None) -> tuple[RetrievalSettings, str]:
    """The retrieval settings a search on ``collection`` runs with, and their origin (settings or profile).

    The collection's trained reranker (``citewise tune reranker``), where one is registered, is part of them."""
    from citewise.encoders.adapted import reranker_settings_for

    name = collection or settings.qdrant.collection
    cfg = reranker_settings_for(settings.retrieval, settings.data_dir, name)
    return apply_profile(cfg, load_profile(settings.data_dir, name))
