"""Test environments free of the caller's ``CITEWISE_*`` variables (``CITEWISE_SHARED_DIR`` is kept: it says
where ../shared is; so is ``CITEWISE_CACHE_DIR``: the machine's model cache)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

KEPT = ("CITEWISE_SHARED_DIR", "CITEWISE_CACHE_DIR")


def _caller_setting(key: str) -> bool:
    return key.startswith("CITEWISE_") and key not in KEPT


def without_citewise(mp: pytest.MonkeyPatch) -> None:
    """Unset every ``CITEWISE_*`` variable of the caller but ``KEPT``."""
    for key in list(os.environ):
        if _caller_setting(key):
            mp.delenv(key)


def clean_environ() -> dict[str, str]:
    """``os.environ`` without the caller's ``CITEWISE_*`` variables (for subprocesses)."""
    return {k: v for k, v in os.environ.items() if not _caller_setting(k)}


@contextmanager
def isolated_env(data_dir: Path, **settings: str) -> Iterator[pytest.MonkeyPatch]:
    """For module-scoped fixtures: no caller ``CITEWISE_*`` variable, ``data_dir`` as the data dir, the hub
    offline (a model that is not here fails fast, not after retries), then ``settings`` (name: value)."""
    with pytest.MonkeyPatch.context() as mp:
        without_citewise(mp)
        mp.setenv("CITEWISE_DATA_DIR", str(data_dir))
        mp.setenv("HF_HUB_OFFLINE", "1")
        for key, value in settings.items():
            mp.setenv(key, value)
        yield mp


@contextmanager
def scifact_tune_env(root: Path, name: str) -> Iterator[dict[str, Path]]:
    """For ``citewise tune`` tests: a 10-query SciFact train subset (with 6 distractors each) named ``name`` under
    ``root`` and an isolated data dir (torch encoder): ``{"root", "subset", "data"}``."""
    from evals.beir import write_subset
    from tests.paths import SCIFACT, require

    subset = write_subset(require(SCIFACT), root / name, split="train", n_queries=10, n_distractors=6)
    with isolated_env(root / "data", CITEWISE_ENCODER__BACKEND="torch"):
        yield {"root": root, "subset": subset, "data": root / "data"}
