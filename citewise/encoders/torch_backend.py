"""The PyTorch backend: a sentence-transformers model, on CPU or GPU."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from citewise.cache import LruCache
from citewise.encoders.base import (
    encoder_options,
    fingerprint,
    resolve_device,
    resolve_model_path,
    resolve_threads,
)
from citewise.encoders.prompts import resolve_prompts
from citewise.errors import ModelUnavailable
from citewise.settings import DEFAULT_DENSE_MODEL, EncoderSettings


class SentenceTransformerEncoder:
    """Dense encoder over a sentence-transformers model: batched, L2-normalized float32 vectors.

    sentence-transformers sorts each call's texts by length and pads each batch to its own longest text.
    """

    backend = "torch"

    def __init__(
        self,
        model: str = DEFAULT_DENSE_MODEL,
        device: str = "cpu",
        batch_size: int | None = None,
        max_seq_length: int | None = None,
        query_cache_size: int = 1024,
        threads: int | None = None,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
    ) -> None:
        batch_size = 64 if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        from sentence_transformers import SentenceTransformer

        self.model_id = model
        self.batch_size = batch_size
        self.device = resolve_device(device)
        if threads is not None and self.device == "cpu":
            import torch

            torch.set_num_threads(resolve_threads(threads))  # process-wide, as torch has it
        path = resolve_model_path(model)
        try:
            self._model = SentenceTransformer(path, device=self.device)
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
        self.prompts = resolve_prompts(model, dict(self._model.prompts or {}), query_prompt, passage_prompt)
        self._cache: LruCache[str, np.ndarray] = LruCache(query_cache_size)

    @classmethod
    def from_settings(cls, settings: EncoderSettings) -> SentenceTransformerEncoder:
        return cls(**encoder_options(settings))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.model_id, self.backend)

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        return self._tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages as an (n, dim) float32 array of unit vectors (after the passage prompt)."""
        return self._encode(texts, self.prompts.passage)

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            prompt=prompt,  # always explicit: "" keeps a config's default_prompt_name from applying
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query (after the query prompt), through an LRU cache."""
        return self._cache.get_or_make(text, lambda: self._encode([text], self.prompts.query)[0])

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text`` as a passage (its prompt and special tokens included)."""
        return len(self._tokenizer(self.prompts.passage + text, add_special_tokens=True, truncation=False)["input_ids"])
