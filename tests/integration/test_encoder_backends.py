"""The ONNX backends for real: local export of the packaged MiniLM, agreement with PyTorch, cache, mixing guard.

Tolerances (cosine to the PyTorch embedding of the same text): onnx >= 0.9999 for every text. onnx-int8:
mean >= 0.99 and every real text (abstracts, queries) >= 0.985 (the worst of 500 SciFact abstracts measured
0.989), degenerate texts (empty, one letter), whose few activations quantize coarsely, >= 0.97.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citewise.encoders import OnnxEncoder, SentenceTransformerEncoder, collection_spec, load_dense_encoder, onnx_export
from citewise.errors import ConfigError, IndexSchemaMismatch
from citewise.index import open_index
from citewise.model_cache import cache_dir
from citewise.settings import load_settings
from tests.paths import scifact_docs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOLERANCE = {"onnx": 0.9999, "onnx-int8": 0.985}
MEAN_TOLERANCE = {"onnx": 0.9999, "onnx-int8": 0.99}
DEGENERATE_TOLERANCE = {"onnx": 0.9999, "onnx-int8": 0.97}
DEGENERATE = ["", "a"]
QUERIES = ["0-dimensional biomaterials lack inductive properties.", "what causes cancer", "BRCA1"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoder-data")


@pytest.fixture(scope="module")
def onnx_encoders(data_dir: Path) -> dict[str, OnnxEncoder]:
    """Both ONNX backends, exported once for this module (int8 is quantized from the fp32 export)."""
    return {b: OnnxEncoder(backend=b, data_dir=data_dir, batch_size=8) for b in ("onnx", "onnx-int8")}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Real abstracts of very different lengths (some past the 256-token limit), and short queries."""
    return [f"{d['title']} {d['text']}" for d in scifact_docs(24)] + QUERIES + DEGENERATE


@pytest.fixture(scope="module")
def reference(dense_encoder: SentenceTransformerEncoder, texts: list[str]) -> np.ndarray:
    return dense_encoder.encode(texts)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_embeddings_agree_with_pytorch(
    backend: str,
    onnx_encoders: dict[str, OnnxEncoder],
    dense_encoder: SentenceTransformerEncoder,
    texts: list[str],
    reference: np.ndarray,
) -> None:
    encoder = onnx_encoders[backend]
    assert (encoder.dim, encoder.max_seq_length) == (dense_encoder.dim, dense_encoder.max_seq_length)
    ours = encoder.encode(texts)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosines = np.sum(ours * reference, axis=1)
    real = len(texts) - len(DEGENERATE)
    assert cosines[:real].min() >= TOLERANCE[backend], (backend, cosines[:real].min())
    assert cosines.mean() >= MEAN_TOLERANCE[backend], (backend, cosines.mean())
    assert cosines[real:].min() >= DEGENERATE_TOLERANCE[backend], (backend, cosines[real:])
    # a single query through the cache path agrees too
    assert float(encoder.encode_query(QUERIES[0]) @ dense_encoder.encode([QUERIES[0]])[0]) >= TOLERANCE[backend]


def test_token_counts_match_the_torch_tokenizer(
    onnx_encoders: dict[str, OnnxEncoder], dense_encoder: SentenceTransformerEncoder, texts: list[str]
) -> None:
    for text in [*texts[:5], "word " * 600, "Ünïcödé naïve café"]:
        assert onnx_encoders["onnx"].count_tokens(text) == dense_encoder.count_tokens(text)


def test_length_sorting_restores_input_order(onnx_encoders: dict[str, OnnxEncoder], texts: list[str]) -> None:
    encoder = onnx_encoders["onnx"]
    together = encoder.encode(texts)
    order = np.random.default_rng(7).permutation(len(texts))
    shuffled = encoder.encode([texts[i] for i in order])
    assert np.allclose(shuffled, together[order], atol=1e-5)
    for i in (0, len(texts) - 3, len(texts) - 1):  # one at a time: no padding at all
        assert np.allclose(encoder.encode([texts[i]])[0], together[i], atol=1e-5)


def test_sessions_keep_no_memory_arena(onnx_encoders: dict[str, OnnxEncoder]) -> None:
    """With ONNX Runtime's CPU arena one batch of long passages keeps ~1.1 GB reserved for the life of a server
    (BENCHMARKS.md, "30 MB .txt upload"): every session runs without it."""
    for encoder in onnx_encoders.values():
        assert encoder._session.get_session_options().enable_cpu_mem_arena is False


def test_queries_run_on_a_one_thread_session(data_dir: Path) -> None:
    encoder = OnnxEncoder(backend="onnx-int8", data_dir=data_dir, threads=2, query_cache_size=0)
    assert encoder.query_session() is encoder._session  # lane 0 has one thread, as queries want
    assert encoder._session.get_session_options().intra_op_num_threads == 1
    assert len(encoder._lane_sessions) == 1  # a search-only process opens no other lane
    wide = OnnxEncoder(backend="onnx-int8", data_dir=data_dir, threads=2, query_threads=2, query_cache_size=0)
    assert wide._query_session is None  # its own session, opened on first use
    vector = wide.encode_query(QUERIES[0])
    session = wide.query_session()
    assert session is not wide._session and session is wide.query_session()
    assert session.get_session_options().intra_op_num_threads == 2
    assert session.get_session_options().enable_cpu_mem_arena is False
    assert np.allclose(vector, encoder.encode_query(QUERIES[0]), atol=1e-5)


def test_passages_on_parallel_lanes_match_one_session_in_input_order(data_dir: Path, texts: list[str]) -> None:
    lanes = OnnxEncoder(backend="onnx", data_dir=data_dir, threads=3, batch_size=4)
    single = OnnxEncoder(backend="onnx", data_dir=data_dir, threads=1, batch_size=4)
    assert lanes.lanes == 3 and single.lanes == 1
    together = lanes.encode(texts)
    assert len(lanes._lane_sessions) == 3
    assert all(s.get_session_options().intra_op_num_threads == 1 for s in lanes._lane_sessions)
    assert np.allclose(together, single.encode(texts), atol=1e-5)
    order = np.random.default_rng(3).permutation(len(texts))
    assert np.allclose(lanes.encode([texts[i] for i in order]), together[order], atol=1e-5)


def test_second_load_reuses_the_export(
    onnx_encoders: dict[str, OnnxEncoder], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = {b: e.model_path for b, e in onnx_encoders.items()}
    assert paths["onnx"].parent.name.startswith("onnx-") and paths["onnx-int8"].parent.name.startswith("onnx-int8-")
    assert paths["onnx"].is_relative_to(cache_dir()) and not paths["onnx"].is_relative_to(data_dir)  # per machine
    assert paths["onnx-int8"].stat().st_size < paths["onnx"].stat().st_size / 2
    mtimes = {b: p.stat().st_mtime_ns for b, p in paths.items()}

    def no_export(*_: Any) -> None:
        raise AssertionError("the cached export must be reused")

    monkeypatch.setattr(onnx_export, "export_onnx", no_export)
    monkeypatch.setattr(onnx_export, "quantize_int8", no_export)
    again = OnnxEncoder(backend="onnx-int8", data_dir=data_dir)
    assert again.model_path == paths["onnx-int8"]
    assert {b: p.stat().st_mtime_ns for b, p in paths.items()} == mtimes
    assert np.array_equal(again.encode(QUERIES), onnx_encoders["onnx-int8"].encode(QUERIES))


def test_int8_cannot_run_on_a_gpu(onnx_encoders: dict[str, OnnxEncoder], data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="CITEWISE_ENCODER__BACKEND=torch"):
        OnnxEncoder(backend="onnx-int8", data_dir=data_dir, device="cuda")


def test_mixing_guard_on_ingest_and_search(
    clean_env: Path, onnx_encoders: dict[str, OnnxEncoder], dense_encoder: SentenceTransformerEncoder, data_dir: Path
) -> None:
    """A collection built with torch refuses int8 vectors, both when ingesting and when searching."""
    from citewise.docstore import DocStore
    from citewise.encoders import Bm25Encoder
    from ingest.pipeline import IngestPipeline
    from retrieval.retriever import Retriever

    def settings_for(backend: str) -> Any:  # the module's data dir: the ONNX exports are cached there
        return load_settings(data_dir=data_dir, qdrant={"collection": "mixing_guard"}, encoder={"backend": backend})

    settings = settings_for("torch")
    doc = clean_env / "note.txt"
    doc.write_text("Vitamin D supplementation and bone density in older adults.\n")
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    try:
        with IngestPipeline(settings, index, dense_encoder, Bm25Encoder(), store) as pipeline:
            assert pipeline.run([doc], workers=0).files.ingested == 1
        assert index.spec() == collection_spec(dense_encoder)
        with (
            IngestPipeline(settings, index, onnx_encoders["onnx-int8"], Bm25Encoder(), store) as pipeline,
            pytest.raises(IndexSchemaMismatch, match="Re-ingest into a new collection"),
        ):
            pipeline.run([doc], workers=0)
        assert index.count() == 1  # nothing was written
    finally:
        index.close()
        store.close()
    with pytest.raises(IndexSchemaMismatch, match="@torch"):
        Retriever.from_settings(settings_for("onnx-int8"))
    retriever = Retriever.from_settings(settings_for("torch"))
    try:
        assert retriever.search("vitamin D bones", k=1, rerank=False).hits
    finally:
        retriever.index.close()


def test_load_dense_encoder_follows_the_settings(data_dir: Path, onnx_encoders: dict[str, OnnxEncoder]) -> None:
    settings = load_settings(data_dir=data_dir, encoder={"backend": "auto"})
    encoder = load_dense_encoder(settings.encoder, settings.data_dir)  # auto on CPU
    assert isinstance(encoder, OnnxEncoder) and encoder.backend == "onnx-int8"
    assert encoder.fingerprint == "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"
    assert encoder.threads >= 1
