"""Shared fixtures: isolated settings, the real MiniLM encoder, BM25, real texts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citewise.offline import apply_offline_defaults
from citewise.settings import Settings, load_settings
from tests.env_support import without_citewise

apply_offline_defaults()

pytest_plugins = ["tests.llm_server"]

CI_SKIP_HINT = (
    "CI runs every test: a skip here means a missing install step or missing ../shared data (fix .ci/run), "
    "or mark the test `may_skip_in_ci` when skipping is by design"
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With ``CI=true`` a skipped test fails (no silent skips): a test CI cannot run is a broken CI set-up."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not _in_ci():
        return
    if item.get_closest_marker("may_skip_in_ci") is not None:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true: {reason}\n{CI_SKIP_HINT}"


def _in_ci() -> bool:
    import os

    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No CITEWISE_* variable from the caller leaks in; the data dir is a fresh temp folder."""
    without_citewise(monkeypatch)
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
