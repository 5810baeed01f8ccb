"""BM25 sparse vectors with the hashed term ids of Qdrant's ``Qdrant/bm25`` (IDF is applied by Qdrant)."""

from __future__ import annotations

from collections.abc import Sequence

from citewise.types import SparseVector


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
