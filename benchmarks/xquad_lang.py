"""BM25 on XQuAD per language: question -> its paragraph, nDCG@10, English analysis (before) vs per-language.

Each language's 200 paragraphs go into an embedded Qdrant index (sparse vectors from ``Bm25Encoder``, IDF by
Qdrant); every question is run in ``sparse`` mode. ``before``: every text analysed as English (what the index
did before language awareness). ``after``: paragraphs analysed in their detected language, questions in theirs
(falling back to the collection's dominant language when unsure). Dense and hybrid are not measured here.

    python benchmarks/xquad_lang.py [--data ../shared/datasets/xquad] [--langs ar,de,...]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from citewise.encoders import Bm25Encoder  # noqa: E402
from citewise.index import CollectionSpec, IndexPoint, SearchQuery  # noqa: E402
from citewise.index_edge import EdgeIndex  # noqa: E402
from citewise.language import detect, dominant  # noqa: E402
from citewise.types import point_id  # noqa: E402

LANGS = ("ar", "de", "en", "es", "hi", "ro", "ru", "tr", "vi", "zh")


def load(path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    paragraphs: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            questions += [(q["question"], len(paragraphs)) for q in para["qas"]]
            paragraphs.append(para["context"])
    return paragraphs, questions


def ndcg_at_10(ranked: list[str], gold: str) -> float:
    return next((1.0 / math.log2(i + 2) for i, pid in enumerate(ranked[:10]) if pid == gold), 0.0)


def run(lang: str, data: Path, per_language: bool, bm25: Bm25Encoder, workdir: Path) -> float:
    paragraphs, questions = load(data / f"xquad.{lang}.json")
    langs = [detect(p).lang if per_language else "en" for p in paragraphs]
    index = EdgeIndex(workdir / f"{lang}-{per_language}", "xquad")
    index.ensure(CollectionSpec(dense_size=1, encoder="none"))
    ids = [point_id(f"p{i}", 0) for i in range(len(paragraphs))]
    vectors = bm25.encode(paragraphs, langs)
    index.upsert([IndexPoint(ids[i], [1.0], vectors[i], {"lang": langs[i]}) for i in range(len(paragraphs))])
    fallback = dominant(Counter(langs))
    total = 0.0
    for question, gold in questions:
        qlang = detect(question, fallback=fallback).lang if per_language else "en"
        records = index.query(SearchQuery(mode="sparse", limit=10, sparse=bm25.encode_query(question, qlang)))
        total += ndcg_at_10([r.id for r in sorted(records, key=lambda r: (-r.score, r.id))], ids[gold])
    index.close()
    return total / len(questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "xquad")
    parser.add_argument("--langs", default=",".join(LANGS))
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data} is not a folder with xquad.<lang>.json files; pass --data")
    bm25 = Bm25Encoder()
    print("| lang | BM25 English analysis (before) | BM25 per-language analysis (after) |")
    print("|---|---|---|")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for lang in args.langs.split(","):
            before = run(lang, args.data, False, bm25, Path(tmp))
            after = run(lang, args.data, True, bm25, Path(tmp))
            print(f"| {lang} | {before:.4f} | {after:.4f} |", flush=True)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
