"""The fusion maths of ``retrieval.fusion`` (pure functions) and the tuning helpers of ``evals.tuning``."""

from __future__ import annotations

import pytest

from evals.tuning import Candidate, ListSet, QueryLists, bootstrap_ci, run_of, split_queries
from retrieval.fusion import FusionParams, dbsf_norm, fuse, minmax, peak, zscore

DENSE = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
SPARSE = [("c", 12.0), ("d", 6.0), ("a", 3.0)]


def test_dbsf_norm_is_qdrants_three_sigma_with_sample_sd() -> None:
    scores = [0.9, 0.5, 0.1]
    sd = 0.4  # sample sd of (0.9, 0.5, 0.1)
    assert dbsf_norm(scores) == pytest.approx([(s - (0.5 - 3 * sd)) / (6 * sd) for s in scores])
    assert dbsf_norm([3.0]) == [0.5] and dbsf_norm([2.0, 2.0]) == [0.5, 0.5]


def test_minmax_and_zscore_edge_cases() -> None:
    assert minmax([3.0, 1.0, 2.0]) == [1.0, 0.0, 0.5] and minmax([4.0]) == [1.0] and minmax([]) == []
    assert zscore([1.0, 1.0]) == [0.0, 0.0] and sum(zscore([1.0, 2.0, 6.0])) == pytest.approx(0.0)


def test_missing_documents_get_nothing_from_that_list_and_explain_says_so() -> None:
    fused = {f.id: f for f in fuse(DENSE, SPARSE, FusionParams("convex", (1.0, 1.0)))}
    assert fused["b"].score == pytest.approx(0.5)  # dense (0.5-0.1)/0.8, absent from BM25
    assert fused["d"].score == pytest.approx(1 / 3)  # BM25 (6-3)/9, absent from dense
    e = fused["a"].explain
    assert (e.dense_rank, e.dense_score, e.sparse_rank, e.sparse_score) == (1, 0.9, 3, 3.0)
    assert fused["b"].explain.sparse_rank is None and fused["d"].explain.dense_score is None


def test_weights_move_the_winner_in_every_method() -> None:
    for method in ("rrf", "dbsf", "convex", "adaptive"):
        dense_heavy = fuse(DENSE, SPARSE, FusionParams(method, (1.8, 0.2), rrf_k=1))  # type: ignore[arg-type]
        sparse_heavy = fuse(DENSE, SPARSE, FusionParams(method, (0.2, 1.8), rrf_k=1))  # type: ignore[arg-type]
        assert dense_heavy[0].id == "a" and sparse_heavy[0].id == "c", method


def test_adaptive_weights_follow_which_list_stands_out() -> None:
    flat = [("a", 0.50), ("b", 0.49), ("c", 0.48), ("d", 0.47)]  # a blind encoder: nothing stands out
    peaked = [("c", 20.0), ("a", 2.0), ("b", 1.5), ("d", 1.0)]
    fused = fuse(flat, peaked, FusionParams("adaptive"))
    w_dense, w_sparse = fused[0].explain.weights
    assert w_sparse > 3 * w_dense and w_dense + w_sparse == pytest.approx(2.0)
    assert fused[0].id == "c"
    assert peak([1.0, 1.0, 1.0]) == 0.0


def test_ties_are_broken_by_id_and_limit_cuts() -> None:
    same = [("z", 1.0), ("y", 1.0), ("x", 1.0)]
    assert [f.id for f in fuse(same, same, FusionParams("dbsf"), limit=2)] == ["x", "y"]


@pytest.mark.parametrize("method", ["rrf", "dbsf", "convex", "adaptive"])
def test_a_limit_returns_the_head_of_the_full_fusion_with_the_same_explanations(method: str) -> None:
    dense = [(f"d{i}", 1.0 - i / 50) for i in range(40)] + [(f"s{i}", 0.1) for i in range(0, 40, 3)]
    sparse = [(f"s{i}", 12.0 - i / 4) for i in range(40)] + [(f"d{i}", 0.5) for i in range(0, 40, 5)]
    params = FusionParams(method)  # type: ignore[arg-type]
    assert fuse(dense, sparse, params, limit=10) == fuse(dense, sparse, params)[:10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "max"}, "fusion 'max' is unknown"),
        ({"norm": "l2"}, "norm 'l2' is unknown"),
        ({"weights": (0.0, 0.0)}, "not both 0"),
        ({"weights": (-1.0, 1.0)}, ">= 0"),
        ({"rrf_k": 0}, "rrf_k 0"),
    ],
)
def test_bad_fusion_params_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FusionParams(**kwargs)  # type: ignore[arg-type]


def test_query_split_is_stable_and_disjoint() -> None:
    qids = [str(i) for i in range(100)]
    tuning, held = split_queries(qids)
    assert (len(tuning), len(held)) == (70, 30) and not set(tuning) & set(held)
    assert split_queries(list(reversed(qids))) == (tuning, held)


def test_bootstrap_interval_contains_the_mean_and_is_seeded() -> None:
    diffs = [0.1, -0.05, 0.2, 0.0, 0.05] * 10
    lo, hi = bootstrap_ci(diffs)
    assert lo <= sum(diffs) / len(diffs) <= hi and bootstrap_ci(diffs) == (lo, hi)
    assert bootstrap_ci([]) == (0.0, 0.0)


def test_tuning_runs_a_query_the_dense_encoder_cannot_read_as_bm25_alone() -> None:
    """As search does: hybrid for a query in a language the encoder does not declare is the BM25 list."""
    lists = {
        "en": QueryLists([("a", 0.9), ("b", 0.8)], [("b", 9.0), ("a", 1.0)], "en"),
        "ar": QueryLists([("a", 0.9), ("b", 0.8)], [("b", 9.0), ("a", 1.0)], "ar"),
    }
    ls = ListSet("t", lists, {"a": "A", "b": "B"}, {"en": {"A": 1}, "ar": {"A": 1}}, ("en",))
    hybrid = Candidate(FusionParams("dbsf", (10.0, 1.0)), 100)  # dense-heavy: fused, A wins
    run = run_of(ls, hybrid)
    assert next(iter(run["en"])) == "A" and list(run["ar"]) == ["B", "A"]
    anything = ListSet("t", lists, ls.chunk_doc, ls.qrels, ("*",))
    assert next(iter(run_of(anything, hybrid)["ar"])) == "A"
