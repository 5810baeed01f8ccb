"""Cross-encoder reranking within a time budget; a model that cannot load degrades to the fused order."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from citewise.encoders import resolve_device

_MODELS: dict[tuple[str, str], Any] = {}
_FAILURES: dict[tuple[str, str], str] = {}
_LOCK = threading.Lock()


class Reranker(Protocol):
    def score(self, query: str, texts: Sequence[str], deadline: float) -> list[float] | None: ...


@dataclass(frozen=True)
class RerankOutcome:
    scores: list[float] | None  # one per text, or None when reranking did not happen
    status: str  # "ok", "timeout", "unavailable: <reason>"


class CrossEncoderReranker:
    """sentence-transformers ``CrossEncoder`` by hub name or local path, loaded once per process."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 16, max_length: int = 512) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_name = model
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_length = max_length

    def load(self) -> Any:
        """The model, or raise RuntimeError with the reason it cannot be loaded (remembered per process)."""
        key = (self.model_name, self.device)
        with _LOCK:
            if key in _MODELS:
                return _MODELS[key]
            if key in _FAILURES:
                raise RuntimeError(_FAILURES[key])
            try:
                from sentence_transformers import CrossEncoder

                model = CrossEncoder(self.model_name, device=self.device, max_length=self.max_length)
            except Exception as exc:  # any load failure means "rerank unavailable"
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
                _FAILURES[key] = f"cannot load reranker {self.model_name!r} ({reason})"
                raise RuntimeError(_FAILURES[key]) from None
            _MODELS[key] = model
            return model

    def available(self) -> bool:
        try:
            self.load()
        except RuntimeError:
            return False
        return True

    def score(self, query: str, texts: Sequence[str], deadline: float) -> list[float] | None:
        """Scores per text, batch by batch; None when ``deadline`` (monotonic seconds) passes first."""
        model = self.load()
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            if time.monotonic() > deadline:
                return None
            batch = [(query, text) for text in texts[start : start + self.batch_size]]
            scores.extend(float(s) for s in model.predict(batch, batch_size=self.batch_size, show_progress_bar=False))
        if time.monotonic() > deadline:
            return None
        return scores


def rerank(reranker: Reranker, query: str, texts: Sequence[str], budget_ms: float) -> RerankOutcome:
    """Run ``reranker`` within ``budget_ms``; never raises: failures become a status."""
    deadline = time.monotonic() + budget_ms / 1000.0
    try:
        scores = reranker.score(query, texts, deadline)
    except Exception as exc:  # a broken reranker must not fail the search
        return RerankOutcome(None, f"unavailable: {exc}")
    if scores is None:
        return RerankOutcome(None, "timeout")
    return RerankOutcome(scores, "ok")
