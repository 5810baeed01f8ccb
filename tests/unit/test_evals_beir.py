"""BEIR loading (qrels with and without header, bad files), the fixed subset, doc ranking from chunks."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from citewise.errors import InvalidRequest
from citewise.types import Chunk, Hit
from evals.beir import load_beir, load_qrels, write_subset
from evals.retrieval_eval import doc_ranking, parse_modes, write_trec
from tests.paths import SCIFACT, require


def _beir(root: Path, qrels: str) -> Path:
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "title": "T1", "text": "alpha"}, {"_id": "d2", "title": "", "text": "beta"}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "alpha?"}\n{"_id": "q2", "text": "beta?"}\n')
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


@pytest.mark.parametrize("header", ["query-id\tcorpus-id\tscore\n", ""])
def test_qrels_load_with_or_without_header(tmp_path: Path, header: str) -> None:
    ds = load_beir(_beir(tmp_path / "b", header + "q1\td1\t1\nq2\td2\t2\nq2\td1\t0\n"))
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}  # zero judgments are not relevant
    assert list(ds.queries) == ["q1", "q2"]
    assert [d.doc_id for d in ds.corpus] == ["d1", "d2"]
    assert ds.name == "b" and len(ds.fingerprint()) == 64


def test_trec_qrels_four_columns(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("q1 0 d1 1\nq1 0 d2 0\n")
    assert load_qrels(path) == {"q1": {"d1": 1}}


def test_fingerprint_changes_with_the_corpus(tmp_path: Path) -> None:
    root = _beir(tmp_path / "b", "q1\td1\t1\n")
    before = load_beir(root).fingerprint()
    (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "T1", "text": "alpha!"}\n')
    assert load_beir(root).fingerprint() != before


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: (r / "corpus.jsonl").unlink(), "corpus.jsonl does not exist"),
        (lambda r: (r / "corpus.jsonl").write_text("{not json\n"), "is not valid JSON"),
        (lambda r: (r / "corpus.jsonl").write_text('{"title": "x"}\n'), 'has no "_id"'),
        (lambda r: (r / "qrels" / "test.tsv").write_text("q9\td1\t1\n"), "not in queries.jsonl"),
        (lambda r: (r / "qrels" / "test.tsv").write_text("q1\td1\n"), "must have 3 columns"),
        (lambda r: (r / "qrels" / "test.tsv").write_text("q1\td1\t0\n"), "no positive judgments"),
    ],
)
def test_bad_beir_folders_say_what_is_wrong(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    root = _beir(tmp_path / "b", "q1\td1\t1\n")
    mutate(root)
    with pytest.raises(InvalidRequest, match=message):
        load_beir(root)


def test_missing_split_and_folder(tmp_path: Path) -> None:
    root = _beir(tmp_path / "b", "q1\td1\t1\n")
    with pytest.raises(InvalidRequest, match="--split dev"):
        load_beir(root, "dev")
    with pytest.raises(InvalidRequest, match="BEIR folder not found"):
        load_beir(tmp_path / "nope")


def test_scifact_subset_is_fixed_and_complete(tmp_path: Path) -> None:
    require(SCIFACT)
    a = load_beir(write_subset(SCIFACT, tmp_path / "a", n_queries=20, n_distractors=30))
    b = load_beir(write_subset(SCIFACT, tmp_path / "b", n_queries=20, n_distractors=30))
    assert a.fingerprint() == b.fingerprint() and a.qrels == b.qrels
    assert len(a.queries) == 20
    relevant = {d for rel in a.qrels.values() for d in rel}
    ids = {d.doc_id for d in a.corpus}
    assert relevant <= ids and len(ids) == len(relevant) + 30


def _hit(doc: str, score: float, i: int = 0) -> Hit:
    chunk = Chunk(doc_id=doc, chunk_index=i, text="t", source=f"eval:x/{doc}", title="", char_start=0, char_end=1)
    return Hit(chunk, score)


def test_doc_ranking_keeps_best_chunk_and_strictly_decreasing_scores() -> None:
    hits = [_hit("a", 0.9), _hit("b", 0.5), _hit("a", 0.4, 1), _hit("c", 0.5), _hit("d", 3.0)]  # d: reranked-tail-like
    ranking = doc_ranking(hits, lambda s: s.split("/", 1)[1], depth=10)
    assert list(ranking) == ["a", "b", "c", "d"]
    scores = list(ranking.values())
    assert scores[0] == 0.9 and scores[1] == 0.5
    assert all(x > y for x, y in itertools.pairwise(scores))
    assert list(doc_ranking(hits, lambda s: s.split("/", 1)[1], depth=2)) == ["a", "b"]


def test_tied_scores_keep_the_retrievers_order_in_trec_eval_and_ranx() -> None:
    """Fused ties (RRF gives two documents the same score) must not be re-broken by the scoring tool.

    trec_eval keeps scores as 32-bit floats and breaks ties by doc id (descending); ranx keeps 64 bits. A one-ulp
    step in 64 bits made them disagree on SciFact (hybrid nDCG@10 0.7121 vs 0.7151); both must score the order
    the retriever returned."""
    import ir_measures
    from ir_measures import nDCG
    from ranx import Qrels, Run, evaluate

    tie = 0.03306011110544205  # a real RRF score from SciFact query 48
    hits = [_hit("d1", tie), _hit("d2", tie), _hit("d3", tie), _hit("d9", 0.01)]
    ranking = doc_ranking(hits, lambda s: s.split("/", 1)[1], depth=10)
    assert list(ranking) == ["d1", "d2", "d3", "d9"]
    assert all(x > y for x, y in itertools.pairwise(np.float32(list(ranking.values()))))
    qrels = {"q": {"d1": 1}}
    trec = ir_measures.calc_aggregate([nDCG @ 10], qrels, {"q": ranking})[nDCG @ 10]
    assert trec == pytest.approx(1.0)
    assert evaluate(Qrels(qrels), Run({"q": ranking}), "ndcg@10") == pytest.approx(1.0)


def test_trec_run_round_trips_exact_scores(tmp_path: Path) -> None:
    run = {"q1": {"d1": 0.1 + 0.2, "d2": 1 / 3}}
    write_trec(tmp_path / "r.trec", run, "tag")
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert lines[0].split() == ["q1", "Q0", "d1", "1", repr(0.1 + 0.2), "tag"]
    assert float(lines[1].split()[4]) == 1 / 3


def test_parse_modes() -> None:
    assert parse_modes("hybrid, dense,hybrid") == ["hybrid", "dense"]
    with pytest.raises(InvalidRequest, match="unknown mode"):
        parse_modes("dense,bm42")
