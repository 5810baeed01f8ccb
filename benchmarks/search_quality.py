"""Search quality on SciFact: nDCG@10 and Recall@100 of dense, sparse and hybrid search through ``Retriever``.

    PYTHONPATH=. nice -n 10 .venv/bin/python -m benchmarks.search_quality --data-dir /tmp/citewise-scifact
    PYTHONPATH=. nice -n 10 .venv/bin/python -m benchmarks.search_quality --data-dir /tmp/citewise-scifact --tune

The first run indexes the 5,183 abstracts into ``--data-dir`` (minutes); later runs reuse it. ``--tune``
grid-searches the fusion settings on the TRAIN queries, then reports the best one on TEST. The defaults
in ``RetrievalSettings`` were chosen that way; test queries never choose anything.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.scifact import open_scifact_index, qrels, queries
from citewise.offline import apply_offline_defaults
from citewise.settings import RetrievalSettings, load_settings


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains ``rel`` and log2 discounts (trec_eval's ``ndcg_cut``, as BEIR reports)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def evaluate(retriever: Any, qtext: Mapping[str, str], judged: Mapping[str, Mapping[str, int]], mode: str) -> dict:
    """Mean nDCG@10 and Recall@100 over the judged queries, plus the mean search time."""
    ndcg, recall, took = [], [], []
    for qid, rel in judged.items():
        started = time.perf_counter()
        result = retriever.search(qtext[qid], k=100, mode=mode, rerank=False)
        took.append(time.perf_counter() - started)
        ranked = list(dict.fromkeys(h.doc_id for h in result.hits))
        ndcg.append(ndcg_at(ranked, rel))
        recall.append(recall_at(ranked, rel))
    n = len(ndcg)
    return {"ndcg@10": sum(ndcg) / n, "recall@100": sum(recall) / n, "queries": n, "mean_ms": 1000 * sum(took) / n}


def grid(base: RetrievalSettings) -> Iterable[RetrievalSettings]:
    """The fusion settings tried by ``--tune``."""
    weights: list[tuple[float, float] | None] = [None, (1.0, 0.5), (1.0, 0.7), (0.7, 1.0), (0.5, 1.0), (1.0, 0.3)]
    for rrf_k, w, prefetch in itertools.product((2, 5, 10, 20, 60), weights, (100, 200)):
        yield base.model_copy(update={"fusion": "rrf", "rrf_k": rrf_k, "weights": w, "prefetch_limit": prefetch})
    for prefetch in (50, 100, 200, 400):
        yield base.model_copy(update={"fusion": "dbsf", "prefetch_limit": prefetch})


def describe(cfg: RetrievalSettings) -> str:
    if cfg.fusion == "dbsf":
        return f"dbsf prefetch={cfg.prefetch_limit}"
    return f"rrf k={cfg.rrf_k} weights={cfg.weights} prefetch={cfg.prefetch_limit}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="where the SciFact index is kept (reused)")
    parser.add_argument("--tune", action="store_true", help="grid-search fusion settings on the train split")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    apply_offline_defaults()

    from citewise.encoders import Bm25Encoder, SentenceTransformerEncoder
    from retrieval import Retriever

    settings = load_settings()
    dense = SentenceTransformerEncoder.from_settings(settings.encoder.model_copy(update={"query_cache_size": 4096}))
    sparse = Bm25Encoder()
    index = open_scifact_index(args.data_dir / "index", dense, sparse)
    qtext = queries()
    out: dict[str, Any] = {"defaults": describe(settings.retrieval)}
    try:
        base = settings.retrieval
        if args.tune:
            train = qrels("train")
            trials = []
            for cfg in grid(base):
                score = evaluate(Retriever(cfg, index, dense, sparse), qtext, train, "hybrid")
                trials.append((score["ndcg@10"], describe(cfg), cfg))
                print(f"train {describe(cfg):45s} nDCG@10 {score['ndcg@10']:.4f}", file=sys.stderr)
            trials.sort(key=lambda t: -t[0])
            out["train_top"] = [(round(s, 4), d) for s, d, _ in trials[:10]]
            base = trials[0][2]
            out["tuned"] = describe(base)
        test = qrels("test")
        retriever = Retriever(base, index, dense, sparse)
        out["test"] = {mode: evaluate(retriever, qtext, test, mode) for mode in ("dense", "sparse", "hybrid")}
        if args.tune:
            out["train"] = {mode: evaluate(retriever, qtext, qrels("train"), mode) for mode in ("dense", "sparse")}
    finally:
        index.close()
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
