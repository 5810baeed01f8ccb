"""What BM25 gains from reading each chunk with its context (``ingest.chunking.chunk_context``), on every shared set.

Reads the collections and the lists ``benchmarks.fusion_sets`` keeps (run that first, same data dir). The dense
encoder reads each chunk's own text with or without the change, so each query's dense list is the kept one;
the BM25 lists are computed here, in memory, from the chunks' texts with the real ``Bm25Encoder`` and Qdrant's
IDF (``ln(1 + (N - n + 0.5) / (n + 0.5))`` over the collection's chunks): once from the text alone (checked
against the kept BM25 lists: the same top 10 chunks) and once from context and text, as ingest now analyses
them. Dense, BM25 and hybrid (the default DBSF, BM25 alone for a query the dense encoder does not read) are
scored on the dev queries (SciFact train, SQuAD 0-5, XQuAD even articles) and the test queries.

    CITEWISE_DATA_DIR=/tmp/cw python -m benchmarks.chunk_context --shared ../shared/datasets --read 4

``--levers`` adds the BM25 and fusion variants tried on the dev queries (k1, b, length norm, document-level
fusion, BM25 pseudo-relevance feedback); their test figures are reported, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.fusion_sets import lists_for, sets
from citewise.encoders import Bm25Encoder
from citewise.offline import apply_offline_defaults
from citewise.settings import load_settings
from evals.beir import BeirDataset
from evals.corpus import collection_for, materialize
from evals.tuning import ListSet, QueryLists, default_candidate, mean, ndcg_per_query, run_of, run_with
from ingest.chunking import chunk_context, lead_line
from ingest.loaders import load_file
from retrieval.fusion import FusionParams, fuse

Ranked = list[tuple[str, float]]


class MemoryBm25:
    """BM25 over a fixed set of chunk texts, scored as the index scores it (document weights from
    ``Bm25Encoder``, Qdrant's IDF over the chunks)."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], langs: Sequence[str | None], **params: float):
        import numpy as np
        import scipy.sparse as sp

        self.ids = list(ids)
        self.encoder = Bm25Encoder(**params)
        columns: dict[int, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for i, vec in enumerate(self.encoder.encode(list(texts), list(langs))):
            for term, weight in zip(vec.indices, vec.values, strict=True):
                rows.append(i)
                cols.append(columns.setdefault(term, len(columns)))
                values.append(weight)
        self.columns = columns
        self.matrix = sp.csr_matrix((values, (rows, cols)), shape=(len(texts), len(columns))).tocsc()
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(columns))
        self.idf = np.log(1.0 + (len(texts) - df + 0.5) / (df + 0.5))

    def query_vector(self, text: str, lang: str | None) -> Any:
        import numpy as np

        q = np.zeros(len(self.columns))
        vec = self.encoder.encode_query(text, lang)
        for term, weight in zip(vec.indices, vec.values, strict=True):
            col = self.columns.get(term)
            if col is not None:
                q[col] += weight
        return q

    def search(self, q: Any, depth: int = 200) -> Ranked:
        """The top ``depth`` chunks with a score above 0 for query weights ``q`` (before IDF), ties by id."""
        import numpy as np

        scores = self.matrix @ (q * self.idf)
        hits = np.flatnonzero(scores > 0)
        top = hits[np.argsort(-scores[hits], kind="stable")][: depth * 2]
        ranked = sorted(((self.ids[i], float(scores[i])) for i in top), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:depth]


def chunk_texts(name: str, both: BeirDataset, collection: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """(ids, texts, BM25 texts with context, languages) of the collection's chunks; the context computed from
    the materialised corpus files as ingest computes it (headings, or the lead line of the parsed file)."""
    from citewise.index import open_index

    settings = load_settings()
    folder = settings.data_dir / "evals" / collection / "docs"
    by_source = {source: Path(path) for path, source in materialize(name, both.corpus, folder).items()}
    leads: dict[str, str] = {}
    index = open_index(settings, collection)
    ids, texts, contexts, langs = [], [], [], []
    try:
        offset = None
        while True:
            records, offset = index.scroll(limit=1024, offset=offset)
            for r in records:
                p = r.payload
                source = str(p["source"])
                if source not in leads:
                    leads[source] = lead_line(load_file(by_source[source]))
                text = str(p["text"])
                ctx = chunk_context(text, tuple(p.get("heading_path") or ()), leads[source])
                ids.append(r.id)
                texts.append(text)
                contexts.append("\n".join(ctx) + "\n\n" + text if ctx else text)
                langs.append(str(p.get("lang") or "en"))
            if offset is None:
                break
    finally:
        index.close()
    return ids, texts, contexts, langs


def with_sparse(ls: ListSet, sparse: dict[str, Ranked]) -> ListSet:
    lists = {q: QueryLists(v.dense, sparse[q], v.lang) for q, v in ls.lists.items()}
    return ListSet(ls.name, lists, ls.chunk_doc, ls.qrels, ls.languages)


def fold_fuse(ls: ListSet, prefetch: int = 100) -> Any:
    """Document-level DBSF: each list folded to its documents (best chunk) before fusing."""

    def rule(q: QueryLists) -> Ranked:
        first: dict[str, str] = {}  # document -> a chunk of it (its best in the first list it is in)

        def fold(lst: Sequence[tuple[str, float]]) -> Ranked:
            out: dict[str, float] = {}
            for chunk, score in lst:
                doc = ls.chunk_doc.get(chunk, chunk)
                first.setdefault(doc, chunk)
                out.setdefault(doc, score)
            return list(out.items())

        fused = fuse(fold(q.dense[:prefetch]), fold(q.sparse[:prefetch]), FusionParams("dbsf"))
        return [(first[f.id], f.score) for f in fused]

    return rule


def score(ls: ListSet, run: Any) -> float:
    return round(mean(list(ndcg_per_query(ls, run).values())), 4)


def rm3(ls: ListSet, bm25: MemoryBm25, queries: dict[str, str], beta: float, terms: int, docs: int = 3) -> ListSet:
    """BM25 with ``terms`` expansion terms (weight ``beta`` at most) from the chunks of the top ``docs`` documents
    of the default hybrid ranking."""
    import numpy as np

    rows = {cid: i for i, cid in enumerate(bm25.ids)}
    matrix = bm25.matrix.tocsr()
    sparse = {}
    for qid, q in ls.lists.items():
        base = bm25.query_vector(queries[qid], q.lang)
        fused = fuse(q.dense[:100], q.sparse[:100], FusionParams("dbsf"))
        seen: set[str] = set()
        top: list[int] = []
        for f in fused:
            doc = ls.chunk_doc.get(f.id, f.id)
            if doc not in seen and f.id in rows:
                seen.add(doc)
                top.append(rows[f.id])
            if len(top) == docs:
                break
        expansion = np.asarray(matrix[top].mean(0)).ravel() * bm25.idf
        expansion[base > 0] = 0
        keep = np.argsort(-expansion)[:terms]
        extra = np.zeros_like(base)
        if expansion[keep].max() > 0:
            extra[keep] = expansion[keep] / expansion[keep].max()
        sparse[qid] = bm25.search(base + beta * extra)
    return with_sparse(ls, sparse)


def read(ls_before: ListSet, ls_after: ListSet, texts: dict[str, str], qids: list[str], n: int) -> list[str]:
    """``n`` test queries whose first relevant document moved between hybrid before and after (seeded sample),
    with the top 4 documents of each: ``*`` relevant, (rank in the dense list, in BM25 before / after)."""
    default = default_candidate()
    before, after = run_of(ls_before, default, qids), run_of(ls_after, default, qids)
    moved = []
    for q in qids:
        b, a = (_first_relevant(ls_before.qrels[q], run[q]) for run in (before, after))
        if a != b:
            moved.append((q, b, a))
    up = sum(a < b for _, b, a in moved)
    lines = [f"{ls_before.name}: first relevant rank better {up}, worse {len(moved) - up}, of {len(qids)}"]
    for q, b, a in random.Random(5).sample(moved, min(n, len(moved))):
        ranks = [
            _ranks(run_of(v, m, [q])[q]) for v, m in ((ls_before, "dense"), (ls_before, "sparse"), (ls_after, "sparse"))
        ]
        lines.append(f"  {texts[q][:110]!r}: first relevant {b} -> {a}")
        for label, run in (("before", before), ("after", after)):
            top = [
                ("*" if ls_before.qrels[q].get(d, 0) > 0 else "") + f"{d[:20]}(d{ranks[0].get(d, '-')},"
                f"s{ranks[1].get(d, '-')}/{ranks[2].get(d, '-')})"
                for d in list(run[q])[:4]
            ]
            lines.append(f"    {label}: " + " ".join(top))
    return lines


def _first_relevant(rels: dict[str, int], docs: dict[str, float]) -> int:
    return next((i + 1 for i, d in enumerate(docs) if rels.get(d, 0) > 0), 999)


def _ranks(docs: dict[str, float]) -> dict[str, int]:
    return {d: i + 1 for i, d in enumerate(docs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--only", nargs="*", help="scifact, squad, xquad or xquad.<lang>")
    parser.add_argument("--levers", action="store_true", help="also the BM25 and fusion variants tried on dev")
    parser.add_argument("--read", type=int, default=0, help="print this many moved test queries per set")
    parser.add_argument("--out", type=Path, default=Path("chunk_context.json"))
    args = parser.parse_args()
    apply_offline_defaults()
    results: dict[str, Any] = {}
    default = default_candidate()
    for name, dev, test in sets(args.shared, args.only):
        t0 = time.perf_counter()
        ls, dev_q, test_q = lists_for(name, dev, test)
        both = BeirDataset(name, dev.path, "dev+test", dev.corpus, {**dev.queries, **test.queries}, ls.qrels)
        ids, texts, contexts, langs = chunk_texts(name, both, collection_for(name, "fusion"))
        variants: dict[str, ListSet] = {}
        bm25s: dict[str, MemoryBm25] = {}
        for label, analysed in (("text", texts), ("context", contexts)):
            bm25s[label] = bm25 = MemoryBm25(ids, analysed, langs)
            sparse = {q: bm25.search(bm25.query_vector(both.queries[q], v.lang)) for q, v in ls.lists.items()}
            variants[label] = with_sparse(ls, sparse)
        same = sum(
            [c for c, _ in ls.lists[q].sparse[:10]] == [c for c, _ in variants["text"].lists[q].sparse[:10]]
            for q in ls.lists
        )
        changed = sum(a != b for a, b in zip(texts, contexts, strict=True))
        row: dict[str, Any] = {"chunks": len(ids), "with context": changed}
        row["kept BM25 top 10 reproduced"] = f"{same}/{len(ls.lists)}"
        for part, qids in (("dev", dev_q), ("test", test_q)):
            row[part] = {
                "dense": score(ls, run_of(ls, "dense", qids)),
                "sparse (kept lists)": score(ls, run_of(ls, "sparse", qids)),
                "hybrid (kept lists)": score(ls, run_of(ls, default, qids)),
            }
            for label, v in variants.items():
                row[part][f"sparse, {label}"] = score(v, run_of(v, "sparse", qids))
                row[part][f"hybrid, {label}"] = score(v, run_of(v, default, qids))
            if args.levers:
                row[part]["hybrid, context, document-level fusion"] = score(
                    variants["context"], run_with(variants["context"], fold_fuse(variants["context"]), qids)
                )
        if args.levers:
            levers: dict[str, ListSet] = {}
            for k1, b, avg in ((0.9, 0.4, 256.0), (0.9, 0.75, 100.0), (1.5, 0.75, 256.0), (1.2, 0.4, 256.0)):
                bm25 = MemoryBm25(ids, contexts, langs, k=k1, b=b, avg_len=avg)
                sparse = {q: bm25.search(bm25.query_vector(both.queries[q], v.lang)) for q, v in ls.lists.items()}
                levers[f"context, k1={k1} b={b} avg_len={avg:g}"] = with_sparse(ls, sparse)
            for beta, terms in ((0.2, 10), (0.5, 10)):
                levers[f"context, RM3 beta={beta} terms={terms}"] = rm3(
                    variants["context"], bm25s["context"], both.queries, beta, terms
                )
            for label, v in levers.items():
                for part, qids in (("dev", dev_q), ("test", test_q)):
                    row[part][f"sparse, {label}"] = score(v, run_of(v, "sparse", qids))
                    row[part][f"hybrid, {label}"] = score(v, run_of(v, default, qids))
        if args.read:
            row["read"] = read(variants["text"], variants["context"], both.queries, test_q, args.read)
            print("\n".join(row["read"]))
        results[name] = row
        print(f"{name} ({time.perf_counter() - t0:.0f} s): {json.dumps({k: row[k] for k in ('dev', 'test')})}")
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
