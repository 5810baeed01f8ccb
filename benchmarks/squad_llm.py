"""LLM answers vs the extractive answerer on held-out SQuAD 2.0 articles, same retrieval, same questions.

Paragraphs of the chosen articles become .txt files under a temp folder (so the chunks carry absolute paths:
a leak would show), ingested into a fresh embedded index (MiniLM + BM25, no reranker). Each question is
answered by the extractive answerer and by the LLM at ``--base-url`` (an OpenAI-compatible server, e.g.
``python -m llama_cpp.server --model SmolLM2-135M-Instruct.Q4_1.gguf --model_alias smollm2``).

Reported per answerer: gold contained (answerable), abstained (answerable / unanswerable), fallbacks, leaks
(the temp path, fence markers, ``[n]`` placeholders in the answer text), unsupported sentences shown, exact
quotes, p50 latency. ``--samples FILE`` writes every answer pair for reading.

    PYTHONPATH=. nice python benchmarks/squad_llm.py --articles 6-7 --limit 40 --base-url http://127.0.0.1:8080/v1
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from citewise.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

from benchmarks.squad import contains_gold  # noqa: E402
from citewise.docstore import DocStore  # noqa: E402
from citewise.encoders import Bm25Encoder, SentenceTransformerEncoder  # noqa: E402
from citewise.index import open_index  # noqa: E402
from citewise.settings import load_settings  # noqa: E402
from citewise.types import Answer  # noqa: E402
from generation import Answerer  # noqa: E402
from ingest.pipeline import IngestPipeline  # noqa: E402
from retrieval import Retriever  # noqa: E402
from tests.paths import SQUAD2  # noqa: E402

FENCES = re.compile(r"<<|>>|‹‹|››|SOURCE-[0-9a-f]{4}|\[n\]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", default="6-7", help="article range FIRST-LAST of the articles-0-7 file")
    parser.add_argument("--limit", type=int, default=40, help="questions, taken evenly across the articles")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--unsupported", default="remove", choices=["remove", "flag"])
    parser.add_argument("--fallback", default="extractive", choices=["extractive", "abstain"])
    parser.add_argument("--gate", type=Path, help="a trained evidence-gate artifact (`citewise tune gate`) to use")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--samples", type=Path)
    args = parser.parse_args()

    first, last = (int(x) for x in args.articles.split("-"))
    data = json.loads(SQUAD2.read_text())["data"]
    work = Path(tempfile.mkdtemp(prefix="squad-llm-"))
    docs = work / "docs"
    docs.mkdir()
    questions = []
    for a in range(first, last + 1):
        for p, para in enumerate(data[a]["paragraphs"]):
            name = f"a{a:02d}-p{p:03d}"
            (docs / f"{name}.txt").write_text(para["context"])
            for qa in para["qas"]:
                questions.append((qa["question"], [x["text"] for x in qa["answers"]], qa["is_impossible"]))
    if args.limit and args.limit < len(questions):
        step = len(questions) / args.limit
        questions = [questions[int(i * step)] for i in range(args.limit)]

    settings = load_settings(data_dir=work / "data")
    if args.gate is not None:  # both answerers decide abstention with the same trained gate
        (work / "data" / "models").mkdir(parents=True, exist_ok=True)
        shutil.copy(args.gate, work / "data" / "models" / "evidence-gate.json")
    dense, sparse = SentenceTransformerEncoder.from_settings(settings.encoder), Bm25Encoder()
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    with IngestPipeline(settings, index, dense, sparse, store) as pipeline:
        pipeline.run([docs], workers=0)
    retriever = Retriever(settings.retrieval, index, dense, sparse, reranker=None)
    llm_gen = settings.generation.model_copy(
        update={
            "llm": "openai-like",
            "model": args.model,
            "base_url": args.base_url,
            "max_tokens": args.max_tokens,
            "temperature": 0.0,
            "timeout_s": 300.0,
            "retries": 0,
            "unsupported": args.unsupported,
            "fallback": args.fallback,
        }
    )
    answerers = {
        "extractive": Answerer.from_settings(settings, retriever),
        "llm": Answerer.from_settings(settings.model_copy(update={"generation": llm_gen}), retriever),
    }
    stats: dict[str, dict[str, list[float]]] = {name: {} for name in answerers}
    samples = []
    t0 = time.perf_counter()
    for i, (question, golds, impossible) in enumerate(questions, 1):
        pair = {"question": question, "gold": golds[:1], "unanswerable": impossible}
        for name, answerer in answerers.items():
            answer = answerer.answer(question, k=args.k)
            _count(stats[name], answer, golds, impossible, str(work), store)
            pair[name] = answer.answer if not answer.fallback_from else f"(fallback) {answer.answer}"
            if name == "llm":
                pair["llm_removed"] = [f"{s.reason}: {s.text}" for s in answer.sentences if not s.shown]
        samples.append(pair)
        print(f"{i}/{len(questions)} {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    result = {
        "articles": args.articles,
        "questions": len(questions),
        "answerable": sum(not q[2] for q in questions),
        "k": args.k,
        "llm": f"openai-like:{args.model}",
        "unsupported": args.unsupported,
        "gate": "trained" if args.gate is not None else "min_evidence",
        **{name: _summary(s) for name, s in stats.items()},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.samples:
        args.samples.write_text(json.dumps(samples, indent=2, ensure_ascii=False))
    index.close()


def _count(s: dict[str, list[float]], answer: Answer, golds: list[str], impossible: bool, path: str, store) -> None:  # type: ignore[no-untyped-def]
    def add(key: str, value: float) -> None:
        s.setdefault(key, []).append(value)

    if impossible:
        add("unanswerable_abstained", answer.abstained)
    else:
        add("answerable_abstained", answer.abstained)
        add("answerable_contains_gold", (not answer.abstained) and contains_gold(answer.answer, golds))
    add("fallbacks", bool(answer.fallback_from))
    add("leaks", bool(path in answer.answer or FENCES.search(answer.answer)))
    add("unsupported_shown", sum(1 for x in answer.sentences if x.shown and not x.supported))
    for c in answer.citations:
        add("quotes_exact", store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote)
    add("latency_s", answer.timings_ms.get("total", 0.0) / 1000.0)


def _summary(s: dict[str, list[float]]) -> dict[str, float]:
    out = {k: round(sum(v) / len(v), 4) for k, v in s.items() if k not in ("fallbacks", "leaks", "unsupported_shown")}
    out.update({k: sum(s.get(k, [])) for k in ("fallbacks", "leaks", "unsupported_shown")})
    out["latency_p50_s"] = round(statistics.median(s["latency_s"]), 3)
    out.pop("latency_s")
    return out


if __name__ == "__main__":
    main()
