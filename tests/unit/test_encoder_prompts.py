"""Query/passage prompts: read from a model's config, the E5 registry, settings overrides, bad config files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citewise.encoders.prompts import Prompts, from_config, read_config, resolve_prompts
from citewise.errors import ConfigError
from citewise.settings import EncoderSettings


def test_prompts_come_from_the_models_config_under_any_usual_key() -> None:
    assert from_config({"query": "query: ", "passage": "passage: "}) == Prompts("query: ", "passage: ")
    assert from_config({"search_query": "search_query: ", "search_document": "search_document: "}) == Prompts(
        "search_query: ", "search_document: "
    )
    assert from_config({"query": "Represent this sentence for searching relevant passages: ", "document": ""}) == (
        Prompts("Represent this sentence for searching relevant passages: ", "")
    )
    assert from_config({}) == Prompts()


def test_e5_models_get_their_prompts_and_settings_override_them() -> None:
    assert resolve_prompts("intfloat/multilingual-e5-small", {}) == Prompts("query: ", "passage: ")
    assert resolve_prompts("/models/multilingual-e5-small", {}) == Prompts("query: ", "passage: ")  # a local copy
    assert resolve_prompts("sentence-transformers/all-MiniLM-L6-v2", {}) == Prompts()
    assert resolve_prompts("intfloat/multilingual-e5-small", {}, query="", passage="") == Prompts()
    assert resolve_prompts("x", {"query": "q: "}, passage="p: ") == Prompts("q: ", "p: ")
    assert Prompts().tag() == "" and Prompts("q: ", "").tag() != Prompts("", "q: ").tag()
    assert EncoderSettings().query_prompt is None  # None: from the model


def test_a_broken_config_file_says_how_to_fix_it(tmp_path: Path) -> None:
    assert read_config(tmp_path) == {}
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": ["query: "]}))
    with pytest.raises(ConfigError, match="CITEWISE_ENCODER__QUERY_PROMPT"):
        read_config(tmp_path)
    (tmp_path / "config_sentence_transformers.json").write_text("{not json")
    with pytest.raises(ConfigError, match="fix or delete it"):
        read_config(tmp_path)
