"""Extractive answers on XQuAD per language: gold answer contained, abstentions, byte-exact quotes.

For each language, its 200 paragraphs become .txt documents ingested with the real pipeline into a fresh
embedded index (MiniLM + per-language BM25, no reranker: none is available offline), and questions (``--limit``
of them, taken evenly across the set) are answered as ``citewise ask --no-rerank`` answers them (extractive
answerer, evidence gate or its ``min_evidence`` rule). A quote is exact when it equals the stored document text
at its ``[char_start:char_end]``. ``--examples N`` prints N answers per language to read.

``--split even`` / ``odd`` keeps the questions of XQuAD's even / odd articles (0-based, as ``fusion_sets`` splits
them): choose changes on the even ones, report on the odd ones. Each miss is put in one kind: *retrieval* (no
retrieved passage holds a gold answer), *abstained* (one does, but the evidence was under the threshold), *wrong
sentence* (one does, but the answer quotes sentences without it). With ``--work`` the documents, the
index and every question's retrieved passages (``hits-k<k>.pkl``) are kept and reused, so a rerun only redoes the
answer step (delete the folder after changing ingest or retrieval).

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/xquad_answers.py [--langs zh,ar] [--limit 100] \
        [--split odd] [--work /tmp/xq]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from citewise.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

from citewise.commands.common import without_rerank  # noqa: E402
from citewise.docstore import DocStore  # noqa: E402
from citewise.index import Filter, open_index  # noqa: E402
from citewise.settings import load_settings  # noqa: E402
from citewise.types import SearchResult  # noqa: E402
from generation import Answerer  # noqa: E402
from ingest.pipeline import IngestPipeline  # noqa: E402
from retrieval import Retriever  # noqa: E402

LANGS = ("ar", "de", "en", "es", "hi", "ro", "ru", "tr", "vi", "zh")
NO_SPACE_LANGS = ("zh", "ja", "th")


def normalize(text: str, lang: str) -> str:
    """Any script: NFKC, casefolded, punctuation and symbols dropped, spaces collapsed (removed for zh/ja/th)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(ch)[0] in "PSZ" else ch for ch in text)
    return "".join(kept.split()) if lang in NO_SPACE_LANGS else " ".join(kept.split())


def contains_gold(answer: str, golds: list[str], lang: str) -> bool:
    body = normalize(answer, lang)
    return any((g := normalize(gold, lang)) and g in body for gold in golds)


def load(path: Path, split: str = "all") -> tuple[list[str], list[tuple[str, list[str], int]]]:
    """All paragraphs, and (question, gold answers, paragraph number) for each question of the ``split``'s
    articles (``all``, ``even`` or ``odd``: by 0-based article number)."""
    paragraphs: list[str] = []
    questions: list[tuple[str, list[str], int]] = []
    for a, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"]):
        for para in article["paragraphs"]:
            if split == "all" or (a % 2 == 0) == (split == "even"):
                for qa in para["qas"]:
                    questions.append((qa["question"], [a["text"] for a in qa["answers"]], len(paragraphs)))
            paragraphs.append(para["context"])
    return paragraphs, questions


class CachedRetriever:
    """The retriever, with every search result kept in ``path`` (a pickle): reruns redo only the answer step."""

    def __init__(self, retriever: Retriever, path: Path) -> None:
        self.retriever = retriever
        self.path = path
        self.results: dict[tuple[str, int], SearchResult] = (
            pickle.loads(path.read_bytes()) if path.exists() else {}  # our own file
        )
        self.dense = retriever.dense
        self.languages = retriever.languages
        self.index = retriever.index

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filter | None = None,
        mode: str | None = None,
        rerank: bool | None = None,
    ) -> SearchResult:
        if (query, k) not in self.results:  # the benchmark searches with one set of options
            self.results[(query, k)] = self.retriever.search(query, k=k, filters=filters, mode=mode, rerank=rerank)
        return self.results[(query, k)]

    def without(self, query: str, k: int, source: str, golds: list[str], lang: str) -> SearchResult:
        """The search result of ``query`` less the hits of ``source`` and those holding a gold answer."""
        result = self.search(query, k)
        kept = [h for h in result.hits if Path(h.chunk.source).name != source
                and not contains_gold(h.chunk.text, golds, lang)]  # fmt: skip
        return SearchResult(hits=tuple(kept))

    def save(self) -> None:
        self.path.write_bytes(pickle.dumps(self.results))


class WithoutAnswer:
    """The cached retriever with the question's paragraph (and any hit holding its answer) taken out: the
    question becomes one the collection cannot answer, and answering it is a false answer."""

    def __init__(self, cached: CachedRetriever, source: str, golds: list[str], lang: str) -> None:
        self.cached, self.source, self.golds, self.lang = cached, source, golds, lang

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filter | None = None,
        mode: str | None = None,
        rerank: bool | None = None,
    ) -> SearchResult:
        return self.cached.without(query, k, self.source, self.golds, self.lang)


def run_language(
    lang: str,
    data: Path,
    limit: int,
    k: int,
    examples: int,
    work: Path,
    split: str = "all",
    unanswerable: bool = False,
) -> dict[str, Any]:
    paragraphs, questions = load(data / f"xquad.{lang}.json", split)
    if limit and limit < len(questions):
        step = len(questions) / limit
        questions = [questions[int(i * step)] for i in range(limit)]
    docs = work / lang / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(paragraphs):
        (docs / f"p{i:03d}.txt").write_text(text, encoding="utf-8")
    settings = without_rerank(load_settings(data_dir=work / lang / "data"))
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    t0 = time.perf_counter()
    retriever = Retriever.from_settings(settings, index=index)
    with IngestPipeline(settings, index, retriever.dense, retriever.sparse, store) as pipeline:
        summary = pipeline.run([docs], workers=0)
    ingest_s = time.perf_counter() - t0
    cached = CachedRetriever(retriever, work / lang / f"hits-k{k}.pkl")
    answerer = Answerer.from_settings(settings, cached)
    found = abstained = right_doc = quotes = exact = 0
    misses = {"retrieval": 0, "abstained": 0, "wrong_sentence": 0}
    shown: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for n, (question, golds, para) in enumerate(questions):
        answer = answerer.answer(question, k=k)
        ok = not answer.abstained and contains_gold(answer.answer, golds, lang)
        found += ok
        kind = "found"
        if not ok:
            retrieved = any(contains_gold(h.chunk.text, golds, lang) for h in cached.search(question, k=k).hits)
            kind = "abstained" if retrieved and answer.abstained else "wrong_sentence" if retrieved else "retrieval"
            misses[kind] += 1
        abstained += answer.abstained
        cited = {Path(c.source).name for c in answer.citations}
        right_doc += not answer.abstained and f"p{para:03d}.txt" in cited
        for c in answer.citations:
            quotes += 1
            exact += store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote
        record = {"question": question, "gold": golds[0], "paragraph": para, "kind": kind,
                  "evidence": round(answer.evidence, 3), "answer": answer.answer[:300],
                  "abstained": answer.abstained, "chars": len(answer.answer)}  # fmt: skip
        records.append(record)
        if len(shown) < examples and n % max(1, len(questions) // max(1, examples)) == 0:
            shown.append(record)
    answer_s = time.perf_counter() - t0
    false_answers = None
    if unanswerable:  # the same questions with their paragraph taken out of the results
        false_answers = 0
        for question, golds, para in questions:
            answerer.retriever = WithoutAnswer(cached, f"p{para:03d}.txt", golds, lang)
            false_answers += not answerer.answer(question, k=k).abstained
        answerer.retriever = cached
    cached.save()
    index.close()
    total = len(questions)
    return {
        "lang": lang,
        "questions": total,
        "documents": len(paragraphs),
        "ingest_failures": len(summary.failures),
        "contains_gold": round(found / total, 4),
        "cites_gold_paragraph": round(right_doc / total, 4),
        "abstained": round(abstained / total, 4),
        "misses": {kind: round(n / total, 4) for kind, n in misses.items()},
        "answered_without_paragraph": None if false_answers is None else round(false_answers / total, 4),
        "answer_chars": round(sum(r["chars"] for r in records if not r["abstained"]) / max(1, total - abstained)),
        "citations": quotes,
        "quotes_exact": round(exact / quotes, 4) if quotes else None,
        "seconds_ingest": round(ingest_s, 1),
        "seconds_per_question": round(answer_s / max(1, total), 3),
        "examples": shown,
        "answers": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "xquad")
    parser.add_argument("--langs", default=",".join(LANGS))
    parser.add_argument("--limit", type=int, default=100, help="questions per language (0: all of the split)")
    parser.add_argument(
        "--unanswerable", action="store_true", help="also ask each question without its paragraph (false answers)"
    )
    parser.add_argument("--split", choices=("all", "even", "odd"), default="all", help="XQuAD articles to ask from")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--examples", type=int, default=0, help="answers per language to print")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--work", type=Path, help="keep documents and indexes here (reused by the next run)")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data} is not a folder with xquad.<lang>.json files; pass --data")
    unknown = [lang for lang in args.langs.split(",") if lang not in LANGS]
    if unknown:
        sys.exit(f"unknown language(s) {unknown}; XQuAD has {', '.join(LANGS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="xquad-answers-") as tmp:
        for lang in args.langs.split(","):
            row = run_language(
                lang, args.data, args.limit, args.k, args.examples, args.work or Path(tmp), args.split,
                args.unanswerable,
            )  # fmt: skip
            rows.append(row)
            for ex in row["examples"]:
                print(json.dumps(ex, ensure_ascii=False), file=sys.stderr)
            print(
                f"| {lang} | {row['questions']} | {row['contains_gold']:.3f} | {row['cites_gold_paragraph']:.3f} | "
                f"{row['abstained']:.3f} | {row['quotes_exact']} | {row['seconds_per_question']} | "
                + " / ".join(f"{row['misses'][kind]:.3f}" for kind in ("retrieval", "abstained", "wrong_sentence"))
                + f" | {row['answered_without_paragraph']} | {row['answer_chars']} |",
                flush=True,
            )
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
