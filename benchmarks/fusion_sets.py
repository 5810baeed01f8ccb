"""Fusion rules on every shared set: SciFact, XQuAD (10 languages) and SQuAD 2.0 articles as retrieval sets.

Each set's corpus is ingested into its own collection (reused when unchanged), each query's dense and BM25
lists are collected once (cached as JSON next to the collection), and then dense, sparse, the default fusion
and every candidate of ``evals.tuning.grid`` are scored from the lists. Candidates are ranked on the dev
queries (SciFact train, the dev articles of XQuAD and SQuAD); the table reports the test queries.
``search`` is hybrid as ``citewise search`` runs it with the default settings: the default fusion, except for a
query in a language the dense encoder does not declare, which gets BM25 alone (the language guard).

    CITEWISE_DATA_DIR=/tmp/cw python -m benchmarks.fusion_sets --shared ../shared/datasets --out fusion.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from citewise.encoders import encoder_languages
from citewise.language import UNDETERMINED, detect, dominant
from citewise.offline import apply_offline_defaults
from citewise.settings import load_settings
from evals.beir import BeirDataset, load_beir
from evals.qa_retrieval import load_qa_retrieval
from evals.tuning import ListSet, QueryLists, collect_lists, default_candidate, grid, mean, ndcg_per_query, run_of

XQUAD_LANGS = ("ar", "de", "en", "es", "hi", "ro", "ru", "tr", "vi", "zh")


def sets(shared: Path, only: list[str] | None) -> list[tuple[str, BeirDataset, BeirDataset]]:
    """(name, dev set, test set); the two share the corpus."""
    out = []
    if not only or "squad" in only:
        f = shared / "squad2" / "dev-v2.0-articles-0-7.json"
        out.append(("squad", load_qa_retrieval(f, "dev"), load_qa_retrieval(f, "test")))
    for lang in XQUAD_LANGS:
        if not only or f"xquad.{lang}" in only or "xquad" in only:
            f = shared / "xquad" / f"xquad.{lang}.json"
            out.append((f"xquad.{lang}", load_qa_retrieval(f, "dev"), load_qa_retrieval(f, "test")))
    if not only or "scifact" in only:
        out.append(("scifact", load_beir(shared / "scifact", "train"), load_beir(shared / "scifact", "test")))
    return out


def lists_for(name: str, dev: BeirDataset, test: BeirDataset) -> tuple[ListSet, list[str], list[str]]:
    from citewise.encoders import Bm25Encoder, load_dense_encoder
    from citewise.index import open_index
    from citewise.types import DEFAULT_TENANT
    from evals.corpus import collection_for, ingest_corpus
    from retrieval import Retriever, access_filter

    settings = load_settings()
    index = open_index(settings, collection_for(name, "fusion"))
    cache = settings.data_dir / "evals" / index.collection / "lists.json"
    both = BeirDataset(
        name, dev.path, "dev+test", dev.corpus, {**dev.queries, **test.queries}, {**dev.qrels, **test.qrels}
    )
    try:
        if cache.is_file() and json.loads(cache.read_text())["fingerprint"] == both.fingerprint():
            data = json.loads(cache.read_text())
            ls = ListSet(
                name, {q: QueryLists(*map(_pairs, v)) for q, v in data["lists"].items()}, data["chunk_doc"], both.qrels
            )
            return ls, list(dev.queries), list(test.queries)
        dense, sparse = load_dense_encoder(settings.encoder, settings.data_dir), Bm25Encoder()
        t0 = time.perf_counter()
        corpus = ingest_corpus(settings, name, both.corpus, index, dense, sparse)
        print(f"{name}: ingested {len(both.corpus)} documents in {time.perf_counter() - t0:.0f} s", flush=True)
        retriever = Retriever(settings.retrieval, index, dense, sparse)
        t0 = time.perf_counter()
        ls = collect_lists(retriever, both, corpus.doc_id, access_filter(DEFAULT_TENANT))
        print(f"{name}: {len(both.queries)} queries in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        index.close()
    cache.parent.mkdir(parents=True, exist_ok=True)
    payload = {"fingerprint": both.fingerprint(), "chunk_doc": ls.chunk_doc,
               "lists": {q: [v.dense, v.sparse] for q, v in ls.lists.items()}}  # fmt: skip
    cache.write_text(json.dumps(payload))
    return ls, list(dev.queries), list(test.queries)


def guarded_qids(dev: BeirDataset, test: BeirDataset, languages: tuple[str, ...]) -> set[str]:
    """The queries the language guard leaves to BM25: their language (the corpus's dominant one when unsure, as
    ``Retriever.query_language``) is not one the dense encoder declares."""
    if "*" in languages:
        return set()
    fallback = dominant(detect(doc.text).lang for doc in dev.corpus)
    out = set()
    for qid, text in {**dev.queries, **test.queries}.items():
        lang = detect(text, fallback=fallback).lang
        if lang != UNDETERMINED and lang not in languages:
            out.add(qid)
    return out


def search_run(ls: ListSet, default: Any, qids: list[str], guarded: set[str]) -> dict[str, dict[str, float]]:
    """The default hybrid run with the language guard applied query by query."""
    sparse = [q for q in qids if q in guarded]
    return {**run_of(ls, default, [q for q in qids if q not in guarded]), **run_of(ls, "sparse", sparse)}


def _pairs(items: list[list[Any]]) -> list[tuple[str, float]]:
    return [(str(a), float(b)) for a, b in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--only", nargs="*", help="scifact, squad, xquad or xquad.<lang>")
    parser.add_argument("--out", type=Path, default=Path("fusion_sets.json"))
    args = parser.parse_args()
    apply_offline_defaults()
    candidates = [default_candidate(), *grid()]
    languages = encoder_languages(load_settings().encoder)
    results: dict[str, Any] = {}
    for name, dev, test in sets(args.shared, args.only):
        ls, dev_q, test_q = lists_for(name, dev, test)
        guarded = guarded_qids(dev, test, languages)
        row: dict[str, Any] = {"dev_queries": len(dev_q), "test_queries": len(test_q), "dev": {}, "test": {},
                               "bm25_only_queries": len(guarded & set(test_q))}  # fmt: skip
        for part, qids in (("dev", dev_q), ("test", test_q)):
            run = search_run(ls, candidates[0], qids, guarded)
            row[part]["search"] = round(mean(list(ndcg_per_query(ls, run).values())), 4)
        for label, what in (("dense", "dense"), ("sparse", "sparse")):
            for part, qids in (("dev", dev_q), ("test", test_q)):
                row[part][label] = round(mean(list(ndcg_per_query(ls, run_of(ls, what, qids)).values())), 4)
        for c in candidates:
            for part, qids in (("dev", dev_q), ("test", test_q)):
                row[part][c.label] = round(mean(list(ndcg_per_query(ls, run_of(ls, c, qids)).values())), 4)
        results[name] = row
        d = row["test"]
        print(f"{name}: test dense {d['dense']} sparse {d['sparse']} default {d[candidates[0].label]} "
              f"search {d['search']} ({row['bm25_only_queries']} of {len(test_q)} BM25 only)", flush=True)  # fmt: skip
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
