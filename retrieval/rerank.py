"""Cross-encoder reranking within a time budget; a model that cannot load degrades to the fused order.

The model is resolved once per process, cheaply: a local folder or the local Hugging Face cache, checked on the
file system before sentence-transformers is imported. A model that is not there (and a hub that does not answer
within ``HUB_PROBE_S``) is remembered as unavailable, so a command that cannot rerank pays no seconds for it.
``state()`` says where a reranker stands: ``ready``, ``found`` (loads on first use), ``unavailable`` (with the
reason) or ``disabled`` (by settings; see ``reranker_state``).
"""

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
_LOCATIONS: dict[str, str] = {}  # model name → what to load it from (a folder, or the hub name)
_LOCK = threading.Lock()
HUB_PROBE_S = 0.5
HINT = (
    "set CITEWISE_RETRIEVAL__RERANKER_MODEL to a local cross-encoder folder, put the model in the Hugging Face "
    "cache, or turn reranking off (CITEWISE_RETRIEVAL__RERANK=false, --no-rerank)"
)


@dataclass(frozen=True)
class RerankerState:
    """Where a reranker stands: ``ready``, ``found`` (not loaded yet), ``unavailable`` or ``disabled``."""

    state: str
    model: str
    reason: str = ""

    def json(self) -> dict[str, str]:
        return {"state": self.state, "model": self.model, "reason": self.reason}

    def line(self) -> str:
        return f"reranker {self.model!r}: {self.state}" + (f" ({self.reason})" if self.reason else "")


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
        self.device_setting = device  # resolved on load: "auto" imports torch, which a failed resolve never pays
        self.batch_size = batch_size
        self.max_length = max_length

    def state(self) -> RerankerState:
        """Resolve (cheaply, once per process) without loading: ``ready``, ``found`` or ``unavailable``."""
        key = (self.model_name, self.device_setting)
        with _LOCK:
            if key in _MODELS:
                return RerankerState("ready", self.model_name)
            if key not in _FAILURES and self._resolve_locked() is not None:
                return RerankerState("found", self.model_name, f"loads on first use from {_LOCATIONS[self.model_name]}")
            return RerankerState("unavailable", self.model_name, _FAILURES[key])

    def _resolve_locked(self) -> str | None:
        """Where to load the model from, or None with the failure remembered (caller holds ``_LOCK``)."""
        if self.model_name in _LOCATIONS:
            return _LOCATIONS[self.model_name]
        where = locate(self.model_name)
        if where is None:
            _FAILURES[(self.model_name, self.device_setting)] = (
                f"cannot load reranker {self.model_name!r}: not a local folder, not in the local Hugging Face cache, "
                f"and the hub is offline or unreachable; {HINT}"
            )
            return None
        _LOCATIONS[self.model_name] = where
        return where

    def load(self) -> Any:
        """The model, or raise RuntimeError with the reason it cannot be loaded (remembered per process)."""
        key = (self.model_name, self.device_setting)
        with _LOCK:
            if key in _MODELS:
                return _MODELS[key]
            if key in _FAILURES:
                raise RuntimeError(_FAILURES[key])
            where = self._resolve_locked()
            if where is None:
                raise RuntimeError(_FAILURES[key])
            try:
                from sentence_transformers import CrossEncoder

                model = CrossEncoder(where, device=resolve_device(self.device_setting), max_length=self.max_length)
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


def locate(name: str) -> str | None:
    """A local folder, the hub name when its files are in the local cache or the hub answers, else None.

    File-system checks only (no sentence-transformers import); the hub probe is bounded by ``HUB_PROBE_S``.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path) if (path / "config.json").is_file() else None
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None  # neither a folder nor a hub name
    if _in_hub_cache(name):
        return name
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return None
    return name if _hub_reachable(HUB_PROBE_S) else None


def _in_hub_cache(name: str) -> bool:
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")), "hub"
    )
    snapshots = Path(hub) / ("models--" + name.replace("/", "--")) / "snapshots"
    return snapshots.is_dir() and any((s / "config.json").is_file() for s in snapshots.iterdir())


def _hub_reachable(timeout_s: float) -> bool:
    """Whether the hub accepts a TCP connection within ``timeout_s`` (name lookup included, in a thread)."""
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout_s).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])


def reranker_state(enabled: bool, reranker: CrossEncoderReranker | None) -> RerankerState:
    """The state to report: ``disabled`` when settings turn reranking off, else the reranker's own."""
    if reranker is None:
        return RerankerState("disabled" if not enabled else "unavailable", "", "no reranker configured")
    if not enabled:
        return RerankerState("disabled", reranker.model_name, "CITEWISE_RETRIEVAL__RERANK=false")
    return reranker.state()


def blend(rerank_scores: Sequence[float], first_stage: Sequence[float], share: float) -> list[float]:
    """The reranked order's scores: ``share`` of the first-stage score and the rest of the cross-encoder's, each
    z-scored over the reranked head (``share`` 0: the cross-encoder's own scores, unchanged)."""
    if share <= 0:
        return [float(s) for s in rerank_scores]
    ce, first = _zscores(rerank_scores), _zscores(first_stage)
    return [(1 - share) * c + share * f for c, f in zip(ce, first, strict=True)]


def _zscores(values: Sequence[float]) -> list[float]:
    n = len(values)
    mean = sum(values) / n if n else 0.0
    sd = (sum((v - mean) ** 2 for v in values) / n) ** 0.5 if n else 0.0
    return [(v - mean) / sd if sd > 0 else 0.0 for v in values]


def rerank(reranker: Reranker, query: str, texts: Sequence[str], budget_ms: float) -> RerankOutcome:
    """Run ``reranker`` within ``budget_ms``; never raises: failures become a status.

    The budget bounds scoring: a model's one-time load (the first search of a CLI process) does not count."""
    load = getattr(reranker, "load", None)
    try:
        if load is not None:
            load()
        deadline = time.monotonic() + budget_ms / 1000.0
        scores = reranker.score(query, texts, deadline)
    except Exception as exc:  # a broken reranker must not fail the search
        return RerankOutcome(None, f"unavailable: {exc}")
    if scores is None:
        return RerankOutcome(None, "timeout")
    return RerankOutcome(scores, "ok")
