"""``citewise tune reranker`` for real on a small SciFact train subset: a cross-encoder initialised from the
packaged MiniLM is trained on hard negatives from the collection's own hybrid search, saved under the data dir,
judged on held-out queries, registered (``--min-gain -1``: whatever it scores) or not (an unreachable
``--min-gain``: nothing registered, the model deleted), reloaded and used by search without flags; bad inputs
get clear errors. Kept small for CI (a few queries, batch 3, short inputs, the torch backend)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.settings import load_settings
from evals.beir import write_subset
from retrieval import Retriever
from retrieval.rerank import CrossEncoderReranker
from tests.env_support import scifact_tune_env
from tests.paths import SCIFACT, require

pytestmark = [pytest.mark.integration]

TINY = ("--max-pairs", "6", "--batch-size", "3", "--depth", "5", "--max-length", "128")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    with scifact_tune_env(tmp_path_factory.mktemp("tune_reranker"), "scifact_rr") as paths:
        yield paths


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def tuned(env: dict[str, Path]) -> dict[str, Any]:
    result = _run("tune", "reranker", "--beir", str(env["subset"]), *TINY, "--min-gain", "-1", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_trained_saved_and_registered(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    folder = Path(tuned["model"]["path"])
    assert folder.parent == env["data"] / "models" / tuned["collection"] and (folder / "config.json").is_file()
    assert tuned["groups"] >= 1 and tuned["train"]["steps"] >= 1 and tuned["decision"]["registered"] is True
    assert tuned["held_out"]["queries"] == 2 and "a fifth of" in tuned["held_out"]["from"]
    dev = tuned["held_out_ndcg"]
    assert dev["depth"] == 5 and 0 <= dev["no_rerank"] <= 1 and set(dev["rerank"]) >= {"0.0", "0.5"}
    registered = json.loads((folder.parent / "reranker.json").read_text())
    assert registered["path"] == str(folder) and registered["trained_on"]["rerank_depth"] == 5
    assert registered["trained_on"]["rerank_blend"] == tuned["decision"]["blend"]


def test_reloaded_model_reranks_and_search_uses_it(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    path = tuned["model"]["path"]
    scores = CrossEncoderReranker(path, max_length=128).score("vitamin D and bone density", ["a", "b c"], math.inf)
    assert scores is not None and len(scores) == 2 and all(math.isfinite(s) for s in scores)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CITEWISE_RETRIEVAL__RERANK_BUDGET_MS", "600000")  # "ok" must not depend on the machine's speed
        retriever = Retriever.from_settings(load_settings(), tuned["collection"])
    try:
        assert retriever.settings.reranker_model == path and retriever.settings.rerank_depth == 5
        assert retriever.settings.rerank_max_length == 128
        result = retriever.search("vitamin D deficiency", k=3)
    finally:
        retriever.index.close()
    assert result.rerank_status == "ok" and all("rerank" in h.stage_scores for h in result.hits)
    pinned = {"CITEWISE_RETRIEVAL__RERANKER_MODEL": "org/other"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in pinned.items():
            mp.setenv(key, value)
        explicit = Retriever.from_settings(load_settings(), tuned["collection"])
        explicit.index.close()
    assert explicit.settings.reranker_model == "org/other"  # an explicit setting wins over the registration


def test_a_reranker_that_does_not_win_is_not_registered(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    registration = env["data"] / "models" / tuned["collection"] / "reranker.json"
    before = registration.read_text()
    args = ("--max-pairs", "2", "--batch-size", "2", "--negatives", "1", "--depth", "3", "--max-length", "64")
    out = _run("tune", "reranker", "--beir", str(env["subset"]), *args, "--min-gain", "2", "--json")
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["decision"]["registered"] is False and body["model"] is None
    assert registration.read_text() == before  # the earlier registration stands
    folders = sorted(p.name for p in registration.parent.iterdir() if p.name.startswith("rr-"))
    assert folders == [Path(tuned["model"]["path"]).name]  # the losing model was deleted


def test_revert_unregisters(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    out = _run("tune", "reranker", "--collection", tuned["collection"], "--revert")
    assert out.exit_code == 0, out.output
    settings = load_settings()
    retriever = Retriever.from_settings(settings, tuned["collection"])
    retriever.index.close()
    assert retriever.settings.reranker_model == settings.retrieval.reranker_model
    again = _run("tune", "reranker", "--collection", tuned["collection"], "--revert")
    assert again.exit_code == 2 and "has no trained reranker" in again.output


def test_no_training_signal_is_a_clear_error(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    other = write_subset(require(SCIFACT), env["root"] / "scifact_other", split="test", n_queries=2, n_distractors=0)
    out = _run("tune", "reranker", "--collection", tuned["collection"], "--beir", str(other), "--split", "test")
    assert out.exit_code == 2, out.output
    assert "no training signal" in " ".join(out.output.split())


def test_unwritable_models_folder_is_a_clear_error(env: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").write_text("not a folder")  # unwritable as any user, root included
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CITEWISE_DATA_DIR", str(data))
        out = _run("tune", "reranker", "--beir", str(env["subset"]))
    assert out.exit_code == 2, out.output
    text = " ".join(out.output.split())
    assert "cannot create the models folder" in text and "CITEWISE_DATA_DIR" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--split", "nosuch"), "--split nosuch"),
        (("--depth", "1"), "--depth 1"),
        (("--negatives", "0"), "--negatives 0"),
        (("--max-length", "4096"), "--max-length 4096"),
        (("--report-split", "nosuch"), "--report-split nosuch"),
        (("--max-pairs", "2", "--freeze-layers", "9"), "--freeze-layers 9: the model has 6 layers"),
    ],
)
def test_bad_input_is_a_clear_error(env: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    out = _run("tune", "reranker", "--beir", str(env["subset"]), *args)
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--collection", "x"), "pass exactly one signal"),
        (("--collection", "x", "--synthetic", "--report-split", "test"), "--report-split names a BEIR split"),
        (("--collection", "x", "--revert"), "has no trained reranker"),
    ],
)
def test_bad_flags_are_clear_errors(env: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    out = _run("tune", "reranker", *args)
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split())
