"""Shared fixtures: isolated settings, the real MiniLM encoder, BM25, real texts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citewise.offline import apply_offline_defaults
from citewise.settings import Settings, load_settings

apply_offline_defaults()

pytest_plugins = ["tests.llm_server"]


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No CITEWISE_* variable from the caller leaks in; the data dir is a fresh temp folder."""
    import os

    for key in list(os.environ):
        if key.startswith("CITEWISE_") and key != "CITEWISE_SHARED_DIR":
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITEWISE_DATA_DIR", str(tmp_path / "data"))
    # The shared `dense_encoder` fixture is torch: what the suite builds with it must be searched with the same
    # backend (the mixing guard). tests/*/test_encoder_backends.py cover the other backends and `auto`.
    monkeypatch.setenv("CITEWISE_ENCODER__BACKEND", "torch")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture()
def settings(clean_env: Path) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def dense_encoder():  # type: ignore[no-untyped-def]
    from citewise.encoders import SentenceTransformerEncoder

    return SentenceTransformerEncoder()


@pytest.fixture(scope="session")
def bm25_encoder():  # type: ignore[no-untyped-def]
    from citewise.encoders import Bm25Encoder

    return Bm25Encoder()
