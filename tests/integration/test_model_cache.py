"""The machine's model cache for real: the packaged MiniLM exported once, by one of two processes that start
together, then shared by another data dir whose first search neither exports nor imports torch.

One real fp32 export (~15-25 s on 2 busy cores) serves the whole module.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from citewise.encoders import OnnxEncoder
from citewise.encoders.onnx_export import MODEL_FILE
from citewise.model_cache import LOG_FILE, META_FILE, list_artifacts
from tests.cli_subprocess import CliRun, cli_command, cli_env, parse_run, run_cli

pytestmark = [pytest.mark.integration]

WAITING = "waiting for another process that is building"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CliRun]]:
    """A fresh cache, built by two `citewise models build` processes in two data dirs started at the same time."""
    root = tmp_path_factory.mktemp("cache-test")
    cache = root / "cache"
    procs = [
        subprocess.Popen(
            cli_command("models", "build", "--backend", "onnx", "--json"),
            cwd=root,
            env=cli_env(root / f"data-{n}", CITEWISE_CACHE_DIR=str(cache), CITEWISE_ENCODER__BACKEND="onnx"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        runs.append(parse_run(subprocess.CompletedProcess(proc.args, proc.returncode, out, err)))
    return cache, runs


def test_two_processes_building_at_once_end_with_one_valid_artifact(built: tuple[Path, list[CliRun]]) -> None:
    cache, runs = built
    assert [r.code for r in runs] == [0, 0], [r.stderr for r in runs]
    paths = {json.loads(r.stdout)["built"][0]["path"] for r in runs}
    assert len(paths) == 1  # both use the same file
    artifacts = list_artifacts(cache)
    assert [(a.backend, a.folder) for a in artifacts] == [("onnx", Path(paths.pop()).parent)]
    folder = artifacts[0].folder
    leftovers = [p.name for p in folder.parent.iterdir() if p != folder and not p.name.endswith(".lock")]
    assert leftovers == []  # no temporary or half-written folder
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["backend"] == "onnx" and meta["versions"]["onnxruntime"] != "-"
    assert sum(WAITING in r.stderr for r in runs) <= 1  # at most one waited; nobody built twice
    for run in runs:  # the optimizer's and exporter's chatter went to build.log, not the terminal
        assert "Fused" not in run.stderr and "Warning" not in run.stderr, run.stderr
    assert (folder / LOG_FILE).is_file()
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].shape[-1] == 384


def test_a_new_data_dir_reuses_the_cache_without_exporting_or_torch(
    built: tuple[Path, list[CliRun]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, _ = built
    model = list_artifacts(cache)[0].folder / MODEL_FILE
    before = model.stat().st_mtime_ns
    env = cli_env(tmp_path / "new-data", CITEWISE_CACHE_DIR=str(cache), CITEWISE_ENCODER__BACKEND="onnx")
    run = run_cli(tmp_path, "search", "what causes cancer", "--no-rerank", "--json", env=env)
    assert run.code == 0, run.stderr
    assert not run.modules & {"torch", "transformers", "sentence_transformers", "llama_index", "unstructured"}
    assert model.stat().st_mtime_ns == before and len(list_artifacts(cache)) == 1
    monkeypatch.setenv("CITEWISE_CACHE_DIR", str(cache))  # in-process too: the same file, vectors of unit length
    encoder = OnnxEncoder(backend="onnx", data_dir=tmp_path / "other-data")
    assert encoder.model_path == model
    assert np.isclose(np.linalg.norm(encoder.encode_query("BRCA1")), 1.0, atol=1e-4)
