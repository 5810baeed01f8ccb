"""``citewise tune retrieval`` for real on a small SciFact train subset: the profile is stored, shown by
``index stats`` and used by ``search`` without flags; bad inputs get a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from evals.beir import write_subset
from tests.env_support import isolated_env
from tests.paths import SCIFACT, require

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("tune")
    subset = write_subset(require(SCIFACT), root / "scifact_tune", split="train", n_queries=40, n_distractors=60)
    with isolated_env(root / "data"):
        yield {"root": root, "subset": subset}


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def tuned(env: dict[str, Path]) -> dict[str, Any]:
    result = _run("tune", "retrieval", "--beir", str(env["subset"]), "--split", "train", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_tune_stores_a_profile_with_the_held_out_gain(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    stored = Path(str(tuned["stored"]))
    assert stored == env["root"] / "data" / "profiles" / f"{tuned['collection']}.json"
    profile = json.loads(stored.read_text())
    assert profile["settings"] == tuned["settings"] and profile["report"]["chosen"] == tuned["chosen"]
    lo, hi = tuned["gain_ci95"]
    assert lo <= tuned["gain_held_out"] <= hi
    assert tuned["queries"] == {"tuning": 28, "held_out": 12}


def test_search_uses_the_profile_without_flags(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    collection = str(tuned["collection"])
    out = _run("search", "cancer cells", "--json", "--no-rerank", "--collection", collection)
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    settings = tuned["settings"]
    assert body["fusion"]["origin"] == "profile"
    assert body["fusion"]["method"] == settings["fusion"] and body["fusion"]["prefetch"] == settings["prefetch_limit"]
    assert body["hits"] and body["hits"][0]["explain"]["fused"] == body["hits"][0]["score"]
    stats = _run("index", "stats", "--json", "--collection", collection)
    assert json.loads(stats.stdout)["profile"]["settings"] == settings


def test_an_explicit_setting_overrides_the_profile(
    env: dict[str, Path], tuned: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEWISE_RETRIEVAL__FUSION", "rrf")
    out = _run("search", "cancer cells", "--json", "--no-rerank", "--collection", str(tuned["collection"]))
    assert json.loads(out.stdout)["fusion"]["method"] == "rrf"


def test_a_corrupt_profile_is_a_clear_error(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    path = Path(str(tuned["stored"]))
    good = path.read_text()
    try:
        path.write_text("{not json")
        out = _run("search", "cancer", "--collection", str(tuned["collection"]))
        assert out.exit_code == 2
        text = " ".join(out.output.split())
        assert "cannot be read" in text and "citewise tune retrieval" in text
    finally:
        path.write_text(good)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beir", "/nonexistent/beir"], "BEIR folder not found"),
        (["--beir", "SUBSET", "--split", "nosuch"], "--split nosuch"),
        (["--qa", "/nonexistent.json"], "QA file not found"),
        ([], "exactly one of --beir DIR, --qa FILE or --feedback FILE"),
    ],
)
def test_bad_inputs_are_explained(env: dict[str, Path], args: list[str], message: str) -> None:
    args = [str(env["subset"]) if a == "SUBSET" else a for a in args]
    out = _run("tune", "retrieval", *args)
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split())
