"""The reranker is resolved once per process, cheaply, and a failure is remembered (no seconds paid twice)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import retrieval.rerank as rr
from citewise.cli import app
from retrieval.rerank import CrossEncoderReranker, reranker_state


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty Hugging Face cache, the hub offline, and a clean per-process memory of reranker lookups."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(rr, "_FAILURES", {})
    monkeypatch.setattr(rr, "_LOCATIONS", {})
    yield tmp_path / "hub"


def test_missing_model_is_unavailable_fast_and_remembered(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_locate = rr.locate

    def counting(name: str) -> str | None:
        calls.append(name)
        return real_locate(name)

    monkeypatch.setattr(rr, "locate", counting)
    reranker = CrossEncoderReranker("nobody/no-such-reranker", device="auto")  # "auto" must not import torch here
    t0 = time.perf_counter()
    first = reranker.state()
    assert time.perf_counter() - t0 < 0.5
    assert first.state == "unavailable" and "CITEWISE_RETRIEVAL__RERANK=false" in first.reason
    t0 = time.perf_counter()
    again = [CrossEncoderReranker("nobody/no-such-reranker", device="auto").state() for _ in range(100)]
    assert time.perf_counter() - t0 < 0.05  # the second and later calls cost nothing
    assert calls == ["nobody/no-such-reranker"] and all(s == first for s in again)
    with pytest.raises(RuntimeError, match="no-such-reranker"):
        reranker.load()
    assert calls == ["nobody/no-such-reranker"]


def test_found_in_cache_or_folder_and_disabled(offline: Path, tmp_path: Path) -> None:
    snapshot = offline / "models--org--cached-reranker" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert CrossEncoderReranker("org/cached-reranker").state().state == "found"
    folder = tmp_path / "local-reranker"
    folder.mkdir()
    assert CrossEncoderReranker(str(folder)).state().state == "unavailable"  # a folder without a model
    (folder / "config.json").write_text("{}")
    assert CrossEncoderReranker(str(tmp_path / "other")).state().state == "unavailable"
    disabled = reranker_state(False, CrossEncoderReranker("org/cached-reranker"))
    assert disabled.state == "disabled" and disabled.json()["reason"] == "CITEWISE_RETRIEVAL__RERANK=false"


def test_config_show_reports_the_reranker(clean_env: Path, offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("CITEWISE_RETRIEVAL__RERANKER_MODEL", "nobody/absent-reranker")
    data = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert data["effective"]["reranker"]["state"] == "unavailable"
    assert "absent-reranker" in data["effective"]["reranker"]["reason"]
    table = runner.invoke(app, ["config", "show"]).output
    assert "reranker 'nobody/absent-reranker': unavailable" in table
    monkeypatch.setenv("CITEWISE_RETRIEVAL__RERANK", "false")
    data = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert data["effective"]["reranker"]["state"] == "disabled"
