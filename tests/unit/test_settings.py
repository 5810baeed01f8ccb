from __future__ import annotations

from pathlib import Path

import pytest

from citewise.errors import ConfigError
from citewise.settings import load_settings


def test_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert s.qdrant.backend == "embedded"
    assert s.encoder.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert s.index_dir == s.data_dir / "index"


def test_nested_env_and_secret(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_QDRANT__BACKEND", "server")
    monkeypatch.setenv("CITEWISE_QDRANT__API_KEY", "s3cret")
    monkeypatch.setenv("CITEWISE_ENCODER__BATCH_SIZE", "8")
    s = load_settings()
    assert s.qdrant.backend == "server"
    assert s.encoder.batch_size == 8
    assert s.qdrant.api_key is not None and s.qdrant.api_key.get_secret_value() == "s3cret"
    masked = s.masked()
    assert masked["qdrant"]["api_key"] == "**********"
    assert "s3cret" not in repr(masked) and "s3cret" not in repr(s)


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("CITEWISE_QDRANT__BACKEND", "cloud", "'embedded' or 'server'"),
        ("CITEWISE_ENCODER__BATCH_SIZE", "-1", "greater than or equal to 1"),
        ("CITEWISE_ENCODER__BATCH_SIZE", "many", "valid integer"),
        ("CITEWISE_ENCODER__DEVICE", "tpu", "pattern"),
        ("CITEWISE_RETRIEVAL__FUSION", "max", "'rrf', 'dbsf', 'convex' or 'adaptive'"),
        ("CITEWISE_API__PORT", "70000", "less than or equal to 65535"),
        ("CITEWISE_QDRANT__COLLECTION", "bad name!", "pattern"),
        ("CITEWISE_QDRANT__URL", "not a url", "http://localhost:6333"),
        ("CITEWISE_QDRANT__URL", "ftp://qdrant:6333", "http(s)://host:port"),
        ("CITEWISE_QDRANT__URL", "http://qdrant:port", "invalid port"),
        ("CITEWISE_API__MAX_CONCURRENT_ANSWERS", "0", "greater than or equal to 1"),
        ("CITEWISE_API__MAX_BODY_KB", "0", "greater than 0"),
        ("CITEWISE_API__MAX_BODY_KB", "huge", "valid number"),
        ("CITEWISE_API__MAX_FILTER_VALUES", "-5", "greater than or equal to 1"),
        ("CITEWISE_QDRANT__TIMEOUT_S", "0", "greater than 0"),
    ],
)
def test_invalid_value_names_variable_value_and_allowed(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, hint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.message
    assert variable in message
    assert repr(value) in message
    assert hint in message


def test_hybrid_fusion_default_is_dbsf(clean_env: Path) -> None:
    """DBSF won on SciFact's train split (BENCHMARKS.md); RRF stays one setting away."""
    s = load_settings()
    assert (s.retrieval.fusion, s.retrieval.weights) == ("dbsf", None)


def test_weights_apply_to_every_fusion_and_bad_ones_are_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEWISE_RETRIEVAL__WEIGHTS", "[1.0, 0.5]")
    assert load_settings().retrieval.weights == (1.0, 0.5)  # with the default DBSF
    monkeypatch.setenv("CITEWISE_RETRIEVAL__WEIGHTS", "[0, 0]")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "CITEWISE_RETRIEVAL__WEIGHTS" in info.value.message and "not both 0" in info.value.message
