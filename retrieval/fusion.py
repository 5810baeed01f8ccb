"""Client-side fusion of a dense and a BM25 ranked list, with an explanation per fused result.

Both index backends return the two prefetch lists; fusing them here (not in the engine) makes the embedded and
the server backend agree by construction, lets one query be explained (rank and score in each list, the
weights used) and allows rules Qdrant does not have.

Methods (``weights`` are ``(dense, sparse)``):

- ``rrf``: Qdrant's weighted reciprocal rank fusion, ``1 / ((position + 1) / weight + k - 1)`` per list,
  positions from 0 (unweighted: ``1 / (k + position)``).
- ``dbsf``: Qdrant's distribution-based score fusion: each list's scores are mapped from
  ``[mean - 3 sd, mean + 3 sd]`` (sample sd) onto ``[0, 1]`` and summed, weighted.
- ``convex``: a weighted sum of normalised scores, ``norm`` = ``minmax`` or ``zscore``.
- ``adaptive``: DBSF-normalised scores weighted per query by how clearly each list's top stands out from the
  rest of that list (the top score's z-score, ``peak``); a list whose scores are flat (an encoder that does not
  read the query's language, a query with no rare term) gets little say.

A document missing from one list scores 0 from that list (``zscore``: the lowest z-score of that list).
Ties are broken by id, so the order is the same on every run and backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

FusionMethod = Literal["rrf", "dbsf", "convex", "adaptive"]
Norm = Literal["minmax", "zscore"]
METHODS: tuple[str, ...] = ("rrf", "dbsf", "convex", "adaptive")
NORMS: tuple[str, ...] = ("minmax", "zscore")
Ranked = Sequence[tuple[str, float]]  # (id, score), best first


@dataclass(frozen=True)
class FusionParams:
    """How to fuse; ``weights`` scale each list's contribution (adaptive: multiplied with the per-query weights)."""

    method: FusionMethod = "dbsf"
    weights: tuple[float, float] = (1.0, 1.0)
    rrf_k: int = 60
    norm: Norm = "minmax"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"fusion {self.method!r} is unknown; use one of {', '.join(METHODS)}")
        if self.norm not in NORMS:
            raise ValueError(f"norm {self.norm!r} is unknown; use one of {', '.join(NORMS)}")
        if len(self.weights) != 2 or any(not math.isfinite(w) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError(f"weights {self.weights!r} must be two finite numbers >= 0, not both 0")
        if self.rrf_k < 1:
            raise ValueError(f"rrf_k {self.rrf_k} must be >= 1")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "weights": list(self.weights)}
        if self.method == "rrf":
            out["rrf_k"] = self.rrf_k
        if self.method == "convex":
            out["norm"] = self.norm
        return out


@dataclass(frozen=True)
class Explanation:
    """Where one fused result came from: its 1-based rank and raw score in each list (None: not in it)."""

    dense_rank: int | None
    dense_score: float | None
    sparse_rank: int | None
    sparse_score: float | None
    fused: float
    weights: tuple[float, float]  # the (dense, sparse) weights this query used

    def as_json(self) -> dict[str, Any]:
        return {
            "dense_rank": self.dense_rank,
            "dense_score": self.dense_score,
            "sparse_rank": self.sparse_rank,
            "sparse_score": self.sparse_score,
            "fused": self.fused,
            "weights": [round(w, 6) for w in self.weights],
        }


@dataclass(frozen=True)
class Fused:
    id: str
    score: float
    explain: Explanation


def fuse(dense: Ranked, sparse: Ranked, params: FusionParams, limit: int | None = None) -> list[Fused]:
    """Fuse two ranked lists (best first) into one, best first, at most ``limit`` results."""
    weights = query_weights(dense, sparse, params)
    parts = [_contributions(lst, params, w) for lst, w in ((dense, weights[0]), (sparse, weights[1]))]
    floors = [_floor(lst, params, w) for lst, w in ((dense, weights[0]), (sparse, weights[1]))]
    scored = [
        (doc, sum(part.get(doc, floor) for part, floor in zip(parts, floors, strict=True)))
        for doc in dict.fromkeys([d for d, _ in dense] + [d for d, _ in sparse])
    ]
    scored.sort(key=lambda ds: (-ds[1], ds[0]))
    if limit is not None:
        scored = scored[:limit]  # explained only for those returned (a query fuses 2 x 100 and keeps 10)
    d_pos = {doc: (i, s) for i, (doc, s) in enumerate(dense)}
    s_pos = {doc: (i, s) for i, (doc, s) in enumerate(sparse)}
    out: list[Fused] = []
    for doc, score in scored:
        dp, sp = d_pos.get(doc), s_pos.get(doc)
        explain = Explanation(
            dense_rank=None if dp is None else dp[0] + 1,
            dense_score=None if dp is None else dp[1],
            sparse_rank=None if sp is None else sp[0] + 1,
            sparse_score=None if sp is None else sp[1],
            fused=score,
            weights=weights,
        )
        out.append(Fused(doc, score, explain))
    return out


def query_weights(dense: Ranked, sparse: Ranked, params: FusionParams) -> tuple[float, float]:
    """The (dense, sparse) weights this query fuses with: the configured ones, or adaptive ones scaled by them."""
    if params.method != "adaptive":
        return params.weights
    peaks = (peak([s for _, s in dense]), peak([s for _, s in sparse]))
    if sum(peaks) <= 0:
        return params.weights
    raw = (params.weights[0] * peaks[0], params.weights[1] * peaks[1])
    total = sum(raw)
    if total <= 0:
        return params.weights
    return (2 * raw[0] / total, 2 * raw[1] / total)  # they sum to 2, like DBSF's two unit weights


def peak(scores: Sequence[float]) -> float:
    """How far the top score stands above the rest of its list, in sample standard deviations (0 if flat)."""
    if len(scores) < 3:
        return 1.0 if scores else 0.0
    rest = scores[1:]
    mean = sum(rest) / len(rest)
    sd = math.sqrt(sum((s - mean) ** 2 for s in rest) / (len(rest) - 1))
    if sd <= 0:
        return 1.0 if scores[0] > mean else 0.0
    return max(0.0, (scores[0] - mean) / sd)


def _contributions(lst: Ranked, params: FusionParams, weight: float) -> dict[str, float]:
    if not lst:
        return {}
    if params.method == "rrf":
        if weight <= 0:
            return {}
        return {doc: 1.0 / ((i + 1) / weight + params.rrf_k - 1) for i, (doc, _) in enumerate(lst)}
    scores = [s for _, s in lst]
    if params.method == "convex":
        normed = minmax(scores) if params.norm == "minmax" else zscore(scores)
    else:
        normed = dbsf_norm(scores)
    return {doc: weight * n for (doc, _), n in zip(lst, normed, strict=True)}


def _floor(lst: Ranked, params: FusionParams, weight: float) -> float:
    """What a document missing from this list gets from it."""
    if params.method == "convex" and params.norm == "zscore" and lst:
        return weight * min(zscore([s for _, s in lst]))
    return 0.0


def dbsf_norm(scores: Sequence[float]) -> list[float]:
    """Qdrant's DBSF normalisation: ``(s - (mean - 3 sd)) / 6 sd`` with the sample sd; one or equal scores: 0.5."""
    n = len(scores)
    if n < 2:
        return [0.5] * n
    mean = sum(scores) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    low, high = mean - 3 * sd, mean + 3 * sd
    if high == low:
        return [0.5] * n
    return [(s - low) / (high - low) for s in scores]


def minmax(scores: Sequence[float]) -> list[float]:
    """Scores onto [0, 1] by the list's own minimum and maximum; one or equal scores: 1.0 (all equally best)."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi == lo:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def zscore(scores: Sequence[float]) -> list[float]:
    """Standard scores (population sd); one or equal scores: 0.0."""
    if not scores:
        return []
    mean = sum(scores) / len(scores)
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if sd == 0:
        return [0.0] * len(scores)
    return [(s - mean) / sd for s in scores]
