"""``citewise tune encoder`` for real on a small SciFact train subset with the real MiniLM: the adapted model is
saved under the data dir and registered, the collection is re-encoded, search uses it without flags, the mixing
guard refuses the old model, an interrupted re-encode blocks queries and resumes; bad inputs get clear errors.

Kept small for CI (a few pairs, batch 4, the torch backend: no ONNX export)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from tests.env_support import scifact_tune_env

pytestmark = [pytest.mark.integration]

BASE = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    with scifact_tune_env(tmp_path_factory.mktemp("tune_encoder"), "scifact_enc") as paths:
        yield paths


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def tuned(env: dict[str, Path]) -> dict[str, Any]:
    args = ("--beir", str(env["subset"]), "--split", "train", "--max-pairs", "8", "--batch-size", "4", "--json")
    result = _run("tune", "encoder", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_model_is_saved_registered_and_the_collection_re_encoded(
    env: dict[str, Path], tuned: dict[str, Any]
) -> None:
    collection = tuned["collection"]
    folder = Path(tuned["model"]["path"])
    assert folder.parent == env["data"] / "models" / collection and (folder / "modules.json").is_file()
    assert tuned["held_out"]["queries"] == 2 and "a fifth of" in tuned["held_out"]["from"]
    assert set(tuned["before"]) == set(tuned["after"]) == {"dense", "hybrid"}
    assert tuned["train"]["steps"] >= 1 and tuned["pairs"] <= 8
    registered = json.loads((env["data"] / "models" / collection / "registered.json").read_text())
    assert registered["path"] == str(folder) and registered["base_model"] == BASE
    assert registered["report"]["after"] == tuned["after"]
    stats = json.loads(_run("index", "stats", "--json", "--collection", collection).stdout)
    assert stats["spec"]["encoder"] == str(folder) and stats["adapted_encoder"]["model_id"] == tuned["model"]["id"]
    assert stats["points"] == tuned["reencoded"]["points"] and stats["reencode_pending"] is None


def test_search_uses_the_adapted_model_and_the_guard_refuses_the_old_one(
    tuned: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = tuned["collection"]
    out = _run("search", "cancer cells", "--json", "--no-rerank", "--collection", collection)
    assert out.exit_code == 0, out.output
    hits = json.loads(out.stdout)["hits"]
    assert hits and all(h["source"].startswith("eval:scifact_enc/") for h in hits)
    monkeypatch.setenv("CITEWISE_ENCODER__MODEL", BASE)
    refused = _run("search", "cancer cells", "--no-rerank", "--collection", collection)
    assert refused.exit_code == 1
    assert "adapted by `citewise tune encoder`" in " ".join(refused.output.split())


def test_an_interrupted_re_encode_blocks_queries_and_resumes(env: dict[str, Path], tuned: dict[str, Any]) -> None:
    from citewise.encoders import load_dense_encoder
    from citewise.index import open_index
    from citewise.settings import load_settings
    from ingest.reencode import run_reencode, start_reencode

    collection = tuned["collection"]
    cfg = load_settings()
    base = load_dense_encoder(cfg.encoder, cfg.data_dir)  # going back to the configured model
    index = open_index(cfg, collection)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    try:
        start_reencode(index, cfg.data_dir, base, None)
        with pytest.raises(KeyboardInterrupt):
            run_reencode(index, cfg.data_dir, base, interrupt, page=16)
    finally:
        index.close()
    blocked = _run("search", "cancer cells", "--no-rerank", "--collection", collection)
    assert blocked.exit_code == 1 and "being re-encoded" in " ".join(blocked.output.split())
    resumed = _run("tune", "encoder", "--collection", collection, "--json")
    assert resumed.exit_code == 0, resumed.output
    body = json.loads(resumed.stdout)
    assert body["resumed"] is True and body["reencoded"]["points"] == tuned["reencoded"]["points"] - 16
    stats = json.loads(_run("index", "stats", "--json", "--collection", collection).stdout)
    assert stats["spec"]["encoder"] == BASE and stats["adapted_encoder"] is None
    assert _run("search", "cancer cells", "--no-rerank", "--collection", collection).exit_code == 0


def test_synthetic_queries_dry_run(tuned: dict[str, Any]) -> None:
    args = ("--collection", tuned["collection"], "--synthetic", "--max-pairs", "6", "--dry-run", "--json")
    out = _run("tune", "encoder", *args)
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["dry_run"] is True and 1 <= body["pairs"] <= 6
    example = body["example"]
    assert example["query"] and example["query"] not in example["positive"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--collection", "nope", "--synthetic"), "collection 'nope' does not exist"),
        (("--beir", "/nonexistent/beir"), "BEIR folder not found"),
        (("--collection", "x", "--epochs", "0", "--synthetic"), "--epochs 0"),
        (("--collection", "x", "--max-pairs", "1", "--synthetic"), "--max-pairs 1"),
        (("--collection", "x"), "pass exactly one signal"),
        (("--collection", "x", "--qa", "/nonexistent/qa.json"), "qa.json"),
        (("--collection", "x", "--synthetic", "--feedback", "f.jsonl"), "got --synthetic and --feedback"),
        (("--collection", "nope", "--feedback", "f.jsonl"), "collection 'nope' does not exist"),
        (("--collection", "x", "--synthetic", "--articles", "0-5"), "pass --qa FILE with them"),
        (("--collection", "x", "--qa", "q.json", "--articles", "5-0"), "--articles '5-0' is not a range"),
        (("--collection", "x", "--qa", "q.json", "--articles", "0-5"), "--articles and --eval-articles go together"),
        (("--collection", "x", "--qa", "q.json", "--articles", "0-5", "--eval-articles", "5-7"), "must not overlap"),
    ],
)
def test_bad_input_is_a_clear_error(env: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    out = _run("tune", "encoder", *args)
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split())


def test_an_empty_split_is_a_clear_error(env: dict[str, Path]) -> None:
    folder = env["root"] / "scifact_empty"
    shutil.copytree(env["subset"], folder, dirs_exist_ok=True)
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n")
    out = _run("tune", "encoder", "--beir", str(folder), "--split", "dev")
    assert out.exit_code == 2 and "dev.tsv holds no positive judgments" in " ".join(out.output.split())
