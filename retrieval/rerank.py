"""Cross-encoder reranking within a time budget; a model that cannot load degrades to the fused order."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

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

                model = _load_cross_encoder(CrossEncoder, self.model_name, self.device, self.max_length)
            except Exception as exc:  # any load failure means "rerank unavailable"
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
                _FAILURES[key] = f"cannot load reranker {self.model_name!r} ({reason})"
                raise RuntimeError(_FAILURES[key]) from None
            _MODELS[key] = model
            return model

    def available(self) -> bool:
        """Whether the model loads (loading it now if it does)."""
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


def _load_cross_encoder(cls: Any, name: str, device: str, max_length: int) -> Any:
    """From a local folder or the local hub cache first; the hub only when it answers (no retry storm offline)."""
    if Path(name).expanduser().is_dir():
        return cls(str(Path(name).expanduser()), device=device, max_length=max_length)
    try:
        return cls(name, device=device, max_length=max_length, local_files_only=True)
    except Exception:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or not _hub_reachable():
            raise RuntimeError(
                "not in the local model cache and the Hugging Face hub is unreachable; set "
                "CITEWISE_RETRIEVAL__RERANKER_MODEL to a local folder or CITEWISE_RETRIEVAL__RERANK=false"
            ) from None
    return cls(name, device=device, max_length=max_length)


def _hub_reachable(timeout_s: float = 2.0) -> bool:
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


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
