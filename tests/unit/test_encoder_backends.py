"""Backend choice, settings, length-aware batching, the export cache's bookkeeping and the mixing guard logic.

The real exports and their agreement with PyTorch are in tests/integration/test_encoder_backends.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citewise.encoders import (
    BACKEND_KEY,
    CPU_DEFAULT_BACKEND,
    check_collection_encoder,
    collection_spec,
    length_sorted_batches,
    onnx_export,
    resolve_backend,
    resolve_threads,
)
from citewise.encoders.onnx_backend import session_options
from citewise.encoders.onnx_export import MODEL_FILE, StModel, artifact_key, cached_export, model_slug, read_st_model
from citewise.errors import ConfigError, IndexSchemaMismatch, ModelUnavailable
from citewise.index import CollectionSpec
from citewise.model_cache import META_FILE
from citewise.settings import EncoderSettings, load_settings


def test_bad_backend_value_names_the_variable_and_the_choices(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_ENCODER__BACKEND", "tensorflow")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "CITEWISE_ENCODER__BACKEND='tensorflow'" in info.value.message
    assert "'onnx-int8'" in info.value.message and "'torch'" in info.value.message


def test_bad_threads_value(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_ENCODER__THREADS", "-2")
    with pytest.raises(ConfigError, match="CITEWISE_ENCODER__THREADS"):
        load_settings()


def test_bad_query_threads_value(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_ENCODER__QUERY_THREADS", "-1")
    with pytest.raises(ConfigError, match="CITEWISE_ENCODER__QUERY_THREADS"):
        load_settings()
    assert EncoderSettings().query_threads == 1  # one short input: one thread (BENCHMARKS.md, issue 19)


@pytest.mark.parametrize("threads", [1, 3])
def test_session_options_for_passages_and_queries(threads: int) -> None:
    import onnxruntime as ort

    options = session_options(threads)
    assert options.intra_op_num_threads == threads and options.inter_op_num_threads == 1
    assert options.enable_cpu_mem_arena is False  # no arena: a batch of long passages would keep ~1 GB reserved
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_auto_is_the_fast_backend_on_cpu_and_torch_on_gpu() -> None:
    assert resolve_backend(EncoderSettings()) == CPU_DEFAULT_BACKEND == "onnx-int8"
    assert resolve_backend(EncoderSettings(device="cuda")) == "torch"
    assert resolve_backend(EncoderSettings(device="cuda:1", backend="auto")) == "torch"
    assert resolve_backend(EncoderSettings(device="cuda", backend="onnx")) == "onnx"
    assert resolve_backend(EncoderSettings(backend="torch")) == "torch"


def test_threads_default_to_the_cores_available() -> None:
    assert resolve_threads(3) == 3
    assert 1 <= resolve_threads(0) <= (__import__("os").cpu_count() or 1)
    with pytest.raises(ValueError):
        resolve_threads(-1)


@pytest.mark.parametrize("batch_size", [1, 3, 4, 100])
def test_length_sorted_batches_cover_every_item_once_longest_first(batch_size: int) -> None:
    lengths = [5, 17, 3, 17, 9, 1, 12, 8, 8, 2]
    batches = length_sorted_batches(lengths, batch_size)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert all(len(b) == batch_size for b in batches[:-1])
    # writing results back at each batch's indices restores the input order
    out = np.empty(len(lengths))
    for b in batches:
        out[b] = [lengths[i] * 10 for i in b]
    assert out.tolist() == [x * 10 for x in lengths]
    with pytest.raises(ValueError):
        length_sorted_batches(lengths, 0)


class _Enc:
    def __init__(self, model_id: str, backend: str, dim: int = 384) -> None:
        self.model_id, self.backend, self.dim = model_id, backend, dim


def test_collection_spec_records_the_backend_and_guard_refuses_another() -> None:
    spec = collection_spec(_Enc("m", "torch"))
    assert spec.extra == {BACKEND_KEY: "torch"} and spec.encoder == "m" and spec.dense_size == 384
    check_collection_encoder(spec, _Enc("m", "torch"), "docs")  # same: fine
    check_collection_encoder(None, _Enc("m", "onnx"), "docs")  # no collection yet: fine
    with pytest.raises(IndexSchemaMismatch) as info:
        check_collection_encoder(spec, _Enc("m", "onnx-int8"), "docs")
    message = info.value.message
    assert "m@torch" in message and "m@onnx-int8" in message
    assert "CITEWISE_QDRANT__COLLECTION" in message and "CITEWISE_ENCODER__BACKEND=torch" in message
    with pytest.raises(IndexSchemaMismatch, match="other@torch"):
        check_collection_encoder(spec, _Enc("other", "torch"), "docs")
    legacy = CollectionSpec(dense_size=384, encoder="m")  # built before backends were recorded
    with pytest.raises(IndexSchemaMismatch, match="unrecorded"):
        check_collection_encoder(legacy, _Enc("m", "torch"), "docs")


def _st_folder(root: Path, modules: list[str], pooling: dict[str, object] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    types = {"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize", "Dense": "2_Dense"}
    entries = [
        {"idx": i, "name": str(i), "path": types[m], "type": f"sentence_transformers.models.{m}"}
        for i, m in enumerate(modules)
    ]
    (root / "modules.json").write_text(json.dumps(entries))
    (root / "1_Pooling").mkdir(exist_ok=True)
    (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling or {"pooling_mode_mean_tokens": True}))
    (root / "tokenizer.json").write_text("{}")
    (root / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    return root


def test_read_st_model_accepts_transformer_pooling_normalize(tmp_path: Path) -> None:
    info = read_st_model(_st_folder(tmp_path / "m", ["Transformer", "Pooling", "Normalize"]))
    assert (info.pooling, info.normalize, info.max_seq_length) == ("mean", True, 128)
    assert read_st_model(tmp_path / "m", max_seq_length=64).max_seq_length == 64


@pytest.mark.parametrize(
    ("modules", "pooling", "match"),
    [
        (["Transformer", "Pooling", "Dense", "Normalize"], None, "Transformer, Pooling"),
        (["Transformer", "Pooling"], {"pooling_mode_mean_sqrt_len_tokens": True}, "mean, CLS or max"),
        (["Transformer", "Pooling"], {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}, "mean"),
    ],
)
def test_unsupported_models_say_to_use_torch(tmp_path: Path, modules: list[str], pooling: dict, match: str) -> None:
    with pytest.raises(ModelUnavailable, match=match) as info:
        read_st_model(_st_folder(tmp_path / "m", modules, pooling))
    assert "CITEWISE_ENCODER__BACKEND=torch" in info.value.message
    with pytest.raises(ModelUnavailable, match="not a sentence-transformers model folder"):
        read_st_model(tmp_path / "empty")


def test_cache_is_reused_and_rebuilt_when_the_model_files_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _st_folder(tmp_path / "m", ["Transformer", "Pooling", "Normalize"])
    model = StModel(folder, "mean", True, 128, False)
    calls: list[Path] = []

    def fake_export(_: StModel, dest: Path) -> dict[str, object]:
        calls.append(dest)
        dest.write_bytes(b"onnx %d" % len(calls))
        return {}

    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    data = tmp_path / "data"
    first = cached_export(model, "org/m", "onnx", data)
    assert first == data / model_slug("org/m") / artifact_key("onnx") / MODEL_FILE and len(calls) == 1
    assert json.loads((first.parent / META_FILE).read_text())["backend"] == "onnx"
    assert cached_export(model, "org/m", "onnx", data) == first and len(calls) == 1  # reused
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 256}))  # the model changed
    assert cached_export(model, "org/m", "onnx", data) == first and len(calls) == 2
    assert first.read_bytes() == b"onnx 2"
    assert not [p for p in first.parent.parent.iterdir() if ".tmp-" in p.name]  # no temp folders left
    (first.parent / META_FILE).write_text("{broken")  # a damaged cache is rebuilt, not trusted
    cached_export(model, "org/m", "onnx", data)
    assert len(calls) == 3


def test_model_slug_is_a_safe_unique_folder_name() -> None:
    assert model_slug("sentence-transformers/all-MiniLM-L6-v2").startswith("sentence-transformers--all-MiniLM-L6-v2-")
    assert "/" not in model_slug("/abs/path/to/model") and model_slug("a/b") != model_slug("a_b")


def test_config_show_names_the_backend_in_use(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from citewise.cli import app

    monkeypatch.delenv("CITEWISE_ENCODER__BACKEND")  # clean_env pins torch for the rest of the suite
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert data["encoder"]["backend"] == "auto" and data["effective"]["encoder_backend"] == CPU_DEFAULT_BACKEND
    monkeypatch.setenv("CITEWISE_ENCODER__BACKEND", "torch")
    table = runner.invoke(app, ["config", "show"]).output
    assert "encoder backend in use: torch" in table and "CITEWISE_ENCODER__THREADS" in table


def test_index_stats_shows_the_collection_backend(settings: Any) -> None:
    from typer.testing import CliRunner

    from citewise.cli import app
    from citewise.index import open_index

    index = open_index(settings)
    index.ensure(collection_spec(_Enc(settings.encoder.model, "onnx-int8")))
    index.close()
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["index", "stats", "--json"]).stdout)
    assert data["spec"]["extra.encoder_backend"] == "onnx-int8"
    table = runner.invoke(app, ["index", "stats"]).output
    assert "encoder backend" in table and "onnx-int8" in table
