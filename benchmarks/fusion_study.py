"""What else fusion could do with the two lists: rules beyond ``retrieval.fusion``, the whole tuning grid, the
per-query headroom, and result lists to read. Reads the lists ``benchmarks.fusion_sets`` keeps (run that first,
same data dir); choose on dev (SciFact train, SQuAD 0-5, XQuAD even articles), read test only to report.

    CITEWISE_DATA_DIR=/tmp/cw python -m benchmarks.fusion_study --only scifact squad xquad.en --grid scifact
    CITEWISE_DATA_DIR=/tmp/cw python -m benchmarks.fusion_study --only xquad.es --read 10
    CITEWISE_DATA_DIR=/tmp/cw python -m benchmarks.fusion_study --only xquad --soft

Rules (each a function of one query's two lists, 100 chunks each unless named):

- ``dbsf floor``: DBSF, but a chunk missing from a list gets that list's lowest normalised score, not 0.
- ``dbsf document credit``: a chunk missing from a list takes the best normalised score of its document's
  chunks in that list (SciFact abstracts are 2.3 chunks each), else the floor.
- ``dbsf deep completion``: fuse the top 100 of each list, but take a missing chunk's score from the top 200
  of that list (else its 200th score), statistics over the 200: closer to scoring every candidate in both.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.fusion_sets import lists_for, sets
from citewise.offline import apply_offline_defaults
from evals.tuning import ListSet, QueryLists, default_candidate, grid, mean, ndcg_per_query, run_of, run_with
from retrieval.fusion import FusionParams, dbsf_norm, fuse, peak

Ranked = Sequence[tuple[str, float]]
Rule = Callable[[QueryLists], Ranked]


def dbsf_floor(q: QueryLists, prefetch: int = 100) -> Ranked:
    return _credit(q, {}, prefetch, documents=False)


def _credit(q: QueryLists, chunk_doc: dict[str, str], prefetch: int, documents: bool) -> Ranked:
    lists = (q.dense[:prefetch], q.sparse[:prefetch])
    total = dict.fromkeys([c for c, _ in lists[0]] + [c for c, _ in lists[1]], 0.0)
    for lst in lists:
        if not lst:
            continue
        normed = dict(zip([c for c, _ in lst], dbsf_norm([s for _, s in lst]), strict=True))
        floor = min(normed.values())
        best: dict[str, float] = {}
        for c, v in normed.items():  # best first: the first chunk of a document is its best
            best.setdefault(chunk_doc.get(c, c), v)
        for c in total:
            total[c] += normed.get(c, best.get(chunk_doc.get(c, ""), floor) if documents else floor)
    return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))


def deep_completion(q: QueryLists, prefetch: int = 100, depth: int = 200) -> Ranked:
    total = dict.fromkeys([c for c, _ in q.dense[:prefetch]] + [c for c, _ in q.sparse[:prefetch]], 0.0)
    for lst in (q.dense[:depth], q.sparse[:depth]):
        if len(lst) < 2:
            continue
        scores = dict(lst)
        mu, sd = statistics.fmean(scores.values()), statistics.stdev(scores.values())
        for c in total:
            total[c] += (scores.get(c, lst[-1][1]) - mu + 3 * sd) / (6 * sd) if sd > 0 else 0.5
    return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))


def rules(ls: ListSet) -> dict[str, Rule]:
    def dbsf(q: QueryLists) -> Ranked:
        return [(f.id, f.score) for f in fuse(q.dense[:100], q.sparse[:100], FusionParams("dbsf"))]

    return {
        "dbsf (default)": dbsf,
        "dbsf floor": dbsf_floor,
        "dbsf document credit": lambda q: _credit(q, ls.chunk_doc, 100, documents=True),
        "dbsf deep completion": deep_completion,
    }


def ndcg(ls: ListSet, run: Any) -> float:
    return round(mean(list(ndcg_per_query(ls, run).values())), 4)


def headroom(ls: ListSet, qids: list[str]) -> dict[str, Any]:
    """Per-query best of dense and sparse (an oracle), and how well query features predict which is better."""
    d, s = (ndcg_per_query(ls, run_of(ls, m, qids)) for m in ("dense", "sparse"))
    features: dict[str, list[float]] = {"dense peak": [], "sparse peak": [], "dense top cosine": [], "overlap@10": []}
    target = []
    for q in qids:
        lists = ls.lists[q]
        docs = [list(run_of(ls, m, [q])[q])[:10] for m in ("dense", "sparse")]
        features["dense peak"].append(peak([x for _, x in lists.dense[:100]]))
        features["sparse peak"].append(peak([x for _, x in lists.sparse[:100]]))
        features["dense top cosine"].append(lists.dense[0][1] if lists.dense else 0.0)
        features["overlap@10"].append(len(set(docs[0]) & set(docs[1])) / 10)
        target.append(d[q] - s[q])
    return {
        "oracle max(dense, sparse)": round(mean([max(d[q], s[q]) for q in qids]), 4),
        "correlation with dense - sparse": {
            k: round(statistics.correlation(v, target), 3) for k, v in features.items()
        },
    }


def soft_routing(ls: ListSet, dev_q: list[str], test_q: list[str]) -> dict[str, Any]:
    """DBSF with a small dense share for every query (no routing), minus BM25 alone: what dropping the dense list
    for a language the encoder does not declare gives up, or saves."""
    sparse = {part: ndcg(ls, run_of(ls, "sparse", q)) for part, q in (("dev", dev_q), ("test", test_q))}
    out: dict[str, Any] = {}
    for share in (0.1, 0.2, 0.3):
        params = FusionParams("dbsf", (2 * share, 2 * (1 - share)))

        def rule(q: QueryLists, p: FusionParams = params) -> Ranked:
            return [(f.id, f.score) for f in fuse(q.dense[:100], q.sparse[:100], p)]

        out[f"dense share {share}"] = {
            part: round(ndcg(ls, run_with(ls, rule, q, guard=False)) - sparse[part], 4)
            for part, q in (("dev", dev_q), ("test", test_q))
        }
    return out


def read(ls: ListSet, texts: dict[str, str], qids: list[str], n: int, rule: Rule | None, seed: int = 3) -> None:
    """Print ``n`` test queries whose first relevant document moved between the default and ``rule``; without a
    rule, between the default as it ran before language routing (DBSF for every query) and as search runs now."""
    before = rules(ls)["dbsf (default)"]
    routing = rule is None
    after: Rule = rule or before
    moved = []
    for q in qids:
        b = _first_relevant(ls, q, run_with(ls, before, [q], guard=not routing)[q])
        a = _first_relevant(ls, q, run_with(ls, after, [q])[q])
        if a != b:
            moved.append((q, b, a))
    up = sum(a < b for _, b, a in moved)
    print(f"{ls.name}: first relevant rank better after {up}, worse {len(moved) - up}, of {len(qids)}")
    for q, b, a in random.Random(seed).sample(moved, min(n, len(moved))):
        lists = ls.lists[q]
        ranks = [{doc: i + 1 for i, doc in enumerate(run_of(ls, m, [q])[q])} for m in ("dense", "sparse")]
        print(f"[{lists.lang}] {texts[q][:110]} | first relevant: before {b}, after {a}")
        for label, rule, guard in (("before", before, not routing), ("after", after, True)):
            top = list(run_with(ls, rule, [q], guard=guard)[q])[:4]
            print(f"  {label}: " + " ".join(_doc(x, ls.qrels[q], ranks) for x in top))


def _first_relevant(ls: ListSet, q: str, docs: dict[str, float]) -> int:
    return next((i + 1 for i, doc in enumerate(docs) if ls.qrels[q].get(doc, 0) > 0), 999)


def _doc(doc: str, rels: dict[str, int], ranks: list[dict[str, int]]) -> str:
    mark = "*" if rels.get(doc, 0) > 0 else ""
    return f"{mark}{doc[:18]}(d{ranks[0].get(doc, '-')},s{ranks[1].get(doc, '-')})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--only", nargs="*", help="scifact, squad, xquad or xquad.<lang>")
    parser.add_argument("--grid", nargs="*", default=[], help="sets to score the 126 tuning candidates on (slow)")
    parser.add_argument("--read", type=int, default=0, help="print this many moved test queries per set")
    parser.add_argument("--soft", action="store_true", help="a small dense share instead of BM25 alone")
    parser.add_argument("--out", type=Path, default=Path("fusion_study.json"))
    args = parser.parse_args()
    apply_offline_defaults()
    out: dict[str, Any] = {}
    for name, dev, test in sets(args.shared, args.only):
        ls, dev_q, test_q = lists_for(name, dev, test)
        row: dict[str, Any] = {"headroom (dev)": headroom(ls, dev_q)}
        for label, rule in rules(ls).items():
            row[label] = {"dev": ndcg(ls, run_with(ls, rule, dev_q)), "test": ndcg(ls, run_with(ls, rule, test_q))}
            print(f"{name}: {label}: {row[label]}", flush=True)
        if name in args.grid:
            scored = {c.label: (ndcg(ls, run_of(ls, c, dev_q)), ndcg(ls, run_of(ls, c, test_q))) for c in grid()}
            by_dev = max(scored, key=lambda k: scored[k][0])
            best_test = max(v[1] for v in scored.values())
            default = ndcg(ls, run_of(ls, default_candidate(), test_q))
            row["grid"] = {"best on dev": [by_dev, *scored[by_dev]], "best test of any": best_test,
                           "default": default, "all": scored}  # fmt: skip
            print(f"{name}: grid {row['grid']['best on dev']}, best test of any {row['grid']['best test of any']}")
        if args.soft:
            row["soft routing (minus BM25 alone)"] = soft_routing(ls, dev_q, test_q)
            print(f"{name}: soft routing {row['soft routing (minus BM25 alone)']}", flush=True)
        if args.read:
            compared: Rule | None = rules(ls)["dbsf document credit"] if name == "scifact" else None
            read(ls, {**dev.queries, **test.queries}, test_q, args.read, compared)
        out[name] = row
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
