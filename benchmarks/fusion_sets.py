"""Fusion rules on every shared set: SciFact, XQuAD (10 languages) and SQuAD 2.0 articles as retrieval sets.

Each set's corpus is ingested into its own collection (reused when unchanged), each query's dense and BM25
lists (200 chunks each) and its detected language are collected once (cached as JSON next to the collection),
and then dense, sparse, the default fusion and the candidates are scored from the lists, as search runs them
(a query in a language the dense encoder does not declare is BM25 alone in hybrid). Choose on the dev
queries (SciFact train, SQuAD articles 0-5, XQuAD's even articles); the table reports the test queries
(SciFact test, SQuAD articles 6-7, XQuAD's odd articles), which choose nothing.

    CITEWISE_DATA_DIR=/tmp/cw python -m benchmarks.fusion_sets --shared ../shared/datasets --out fusion.json

``--grid`` adds the 126 candidates of ``evals.tuning.grid`` (slow: about 5 s per candidate and set here).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from citewise.offline import apply_offline_defaults
from citewise.settings import load_settings
from evals.beir import BeirDataset, load_beir
from evals.qa_retrieval import load_qa_retrieval
from evals.tuning import (
    Candidate,
    ListSet,
    QueryLists,
    collect_lists,
    default_candidate,
    grid,
    mean,
    ndcg_per_query,
    run_of,
)
from retrieval.fusion import FusionParams

XQUAD_LANGS = ("ar", "de", "en", "es", "hi", "ro", "ru", "tr", "vi", "zh")
SQUAD_DEV, SQUAD_TEST = tuple(range(6)), (6, 7)  # article numbers of dev-v2.0-articles-0-7.json
# the rules compared with the default in BENCHMARKS.md ("Fusion default, re-measured")
STUDY = (
    Candidate(FusionParams("dbsf"), 50),
    Candidate(FusionParams("dbsf"), 200),
    Candidate(FusionParams("rrf", rrf_k=60), 100),
    Candidate(FusionParams("convex", norm="zscore"), 100),
    Candidate(FusionParams("adaptive"), 100),
)


def sets(shared: Path, only: list[str] | None) -> list[tuple[str, BeirDataset, BeirDataset]]:
    """(name, dev set, test set); the two share the corpus."""
    out = []
    if not only or "squad" in only:
        f = shared / "squad2" / "dev-v2.0-articles-0-7.json"
        out.append(("squad", load_qa_retrieval(f, "articles", SQUAD_DEV), load_qa_retrieval(f, "articles", SQUAD_TEST)))
    for lang in XQUAD_LANGS:
        if not only or f"xquad.{lang}" in only or "xquad" in only:
            f = shared / "xquad" / f"xquad.{lang}.json"
            out.append((f"xquad.{lang}", load_qa_retrieval(f, "dev"), load_qa_retrieval(f, "test")))
    if not only or "scifact" in only:
        out.append(("scifact", load_beir(shared / "scifact", "train"), load_beir(shared / "scifact", "test")))
    return out


def lists_for(name: str, dev: BeirDataset, test: BeirDataset) -> tuple[ListSet, list[str], list[str]]:
    from citewise.encoders import Bm25Encoder, encoder_languages, load_dense_encoder
    from citewise.index import open_index
    from citewise.types import DEFAULT_TENANT
    from evals.corpus import collection_for, ingest_corpus
    from retrieval import Retriever, access_filter

    settings = load_settings()
    languages = encoder_languages(settings.encoder)
    index = open_index(settings, collection_for(name, "fusion"))
    cache = settings.data_dir / "evals" / index.collection / "lists.json"
    both = BeirDataset(
        name, dev.path, "dev+test", dev.corpus, {**dev.queries, **test.queries}, {**dev.qrels, **test.qrels}
    )
    try:
        data = json.loads(cache.read_text()) if cache.is_file() else {}
        if data.get("fingerprint") == both.fingerprint() and set(both.queries) <= set(data["lists"]):
            langs = data.get("langs")
            if langs is None:  # a cache from before languages were kept: detect them as search does
                retriever = Retriever(
                    settings.retrieval, index, load_dense_encoder(settings.encoder, settings.data_dir), Bm25Encoder()
                )
                langs = {q: retriever.query_language(t) for q, t in both.queries.items()}
                cache.write_text(json.dumps({**data, "langs": langs}))
            lists = {q: QueryLists(_pairs(d), _pairs(s), langs[q]) for q, (d, s) in data["lists"].items()}
            ls = ListSet(name, lists, data["chunk_doc"], both.qrels, languages)
            return ls, list(dev.queries), list(test.queries)
        dense, sparse = load_dense_encoder(settings.encoder, settings.data_dir), Bm25Encoder()
        t0 = time.perf_counter()
        corpus = ingest_corpus(settings, name, both.corpus, index, dense, sparse)
        print(f"{name}: ingested {len(both.corpus)} documents in {time.perf_counter() - t0:.0f} s", flush=True)
        retriever = Retriever(settings.retrieval, index, dense, sparse, languages=languages)
        t0 = time.perf_counter()
        ls = collect_lists(retriever, both, corpus.doc_id, access_filter(DEFAULT_TENANT))
        print(f"{name}: {len(both.queries)} queries in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        index.close()
    cache.parent.mkdir(parents=True, exist_ok=True)
    payload = {"fingerprint": both.fingerprint(), "chunk_doc": ls.chunk_doc,
               "lists": {q: [v.dense, v.sparse] for q, v in ls.lists.items()},
               "langs": {q: v.lang for q, v in ls.lists.items()}}  # fmt: skip
    cache.write_text(json.dumps(payload))
    return ls, list(dev.queries), list(test.queries)


def _pairs(items: list[list[Any]]) -> list[tuple[str, float]]:
    return [(str(a), float(b)) for a, b in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--only", nargs="*", help="scifact, squad, xquad or xquad.<lang>")
    parser.add_argument("--out", type=Path, default=Path("fusion_sets.json"))
    parser.add_argument("--grid", action="store_true", help="also score every candidate of evals.tuning.grid")
    args = parser.parse_args()
    apply_offline_defaults()
    candidates = list(dict.fromkeys([default_candidate(), *STUDY, *(grid() if args.grid else [])]))
    results: dict[str, Any] = {}
    for name, dev, test in sets(args.shared, args.only):
        ls, dev_q, test_q = lists_for(name, dev, test)
        blind = sum(not run_of_uses_dense(ls, q) for q in test_q)
        row: dict[str, Any] = {"dev_queries": len(dev_q), "test_queries": len(test_q), "test_bm25_only": blind}
        row |= {"dev": {}, "test": {}}
        whats: list[Candidate | str] = ["dense", "sparse", *candidates]
        for what in whats:
            label = what if isinstance(what, str) else what.label
            for part, qids in (("dev", dev_q), ("test", test_q)):
                row[part][label] = round(mean(list(ndcg_per_query(ls, run_of(ls, what, qids)).values())), 4)
        results[name] = row
        d = row["test"]
        print(f"{name}: test dense {d['dense']} sparse {d['sparse']} default {d[candidates[0].label]}", flush=True)
        args.out.write_text(json.dumps(results, indent=1))


def run_of_uses_dense(ls: ListSet, qid: str) -> bool:
    from retrieval.retriever import dense_reads

    return dense_reads(ls.lists[qid].lang, ls.languages)


if __name__ == "__main__":
    main()
