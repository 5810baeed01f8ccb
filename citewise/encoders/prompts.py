"""Query and passage prompts of a dense model (E5's ``"query: "`` / ``"passage: "``, Nomic's ``"search_query: "``...).

Many retrieval models are trained with a text put before each query and each passage; without it their vectors
are worse. sentence-transformers stores them in the model folder's ``config_sentence_transformers.json``
(``"prompts": {"query": ..., "passage" | "document": ...}``); models published before that convention (the E5
family) are listed in ``KNOWN_PROMPTS``. ``CITEWISE_ENCODER__QUERY_PROMPT`` / ``__PASSAGE_PROMPT`` override
both (``""``: none). The prompts change the vectors, so a collection records them (``PROMPTS_KEY``) and the
mixing guard refuses vectors made with other prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from citewise.errors import ConfigError

CONFIG_FILE = "config_sentence_transformers.json"
QUERY_KEYS = ("query", "search_query", "queries")
PASSAGE_KEYS = ("passage", "document", "search_document", "corpus", "doc", "documents")
PROMPTS_KEY = "encoder_prompts"  # CollectionSpec.extra key: Prompts.tag()
# models whose prompts their config does not carry (ids as on the hub; matched on the last path part too)
KNOWN_PROMPTS: dict[str, tuple[str, str]] = {
    "intfloat/multilingual-e5-small": ("query: ", "passage: "),
    "intfloat/multilingual-e5-base": ("query: ", "passage: "),
    "intfloat/multilingual-e5-large": ("query: ", "passage: "),
    "intfloat/e5-small-v2": ("query: ", "passage: "),
    "intfloat/e5-base-v2": ("query: ", "passage: "),
    "intfloat/e5-large-v2": ("query: ", "passage: "),
}


@dataclass(frozen=True)
class Prompts:
    """The text put before each query and each passage (documents, and the sentences answers are scored on)."""

    query: str = ""
    passage: str = ""

    def tag(self) -> str:
        """What a collection records: ``""`` without prompts (as collections made before prompts were applied)."""
        if not (self.query or self.passage):
            return ""
        return hashlib.sha256(json.dumps([self.query, self.passage]).encode()).hexdigest()[:16]


def from_config(prompts: Mapping[str, str | None]) -> Prompts:
    """The query and passage prompts of a sentence-transformers ``prompts`` mapping (first known key wins)."""
    query = next((str(prompts[k]) for k in QUERY_KEYS if prompts.get(k)), "")
    passage = next((str(prompts[k]) for k in PASSAGE_KEYS if prompts.get(k)), "")
    return Prompts(query, passage)


def read_config(folder: Path) -> dict[str, str | None]:
    """The ``prompts`` mapping of a local model folder ({} when it has none); a broken file is a ``ConfigError``."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        prompts = json.loads(path.read_text(encoding="utf-8")).get("prompts") or {}
        if not isinstance(prompts, dict):
            raise ValueError(f"'prompts' is a {type(prompts).__name__}, not an object")
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"{path} is not valid ({exc}); fix or delete it, or set CITEWISE_ENCODER__QUERY_PROMPT and "
            "CITEWISE_ENCODER__PASSAGE_PROMPT"
        ) from None
    return {str(k): (None if v is None else str(v)) for k, v in prompts.items()}


def resolve_prompts(
    model_id: str, config: Mapping[str, str | None], query: str | None = None, passage: str | None = None
) -> Prompts:
    """The prompts to use: each from the settings when set, else from the model's config, else ``KNOWN_PROMPTS``."""
    found = from_config(config)
    if not (found.query or found.passage):
        name = model_id.rstrip("/").split("/")[-1]
        known = next((v for k, v in KNOWN_PROMPTS.items() if model_id == k or k.split("/")[-1] == name), None)
        found = Prompts(*known) if known else found
    return Prompts(found.query if query is None else query, found.passage if passage is None else passage)
