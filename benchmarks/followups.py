"""Follow-up questions: gold-answer containment with and without the rewrite (``evals/followups.json``).

Every paragraph of SQuAD 2.0 articles 0-7 and of XQuAD English becomes a .txt document, ingested with the real
pipeline into a fresh embedded index (MiniLM + BM25, no reranker). For each pair, in a real conversation
(``generation.conversation`` over ``citewise.conversations``), the first question is answered, then the
follow-up, three ways: as asked (no rewrite: what single-turn ``ask`` gives), rewritten by the offline rule,
and (upper bound) the dataset's own standalone question; with ``--llm-url``, a fourth: rewritten by that
OpenAI-compatible LLM with the ``rewrite@1`` prompt (answers stay extractive: only the rewrite differs).
Reported: the answer contains a gold answer (SQuAD normalisation), a top-5 passage contains one, and
abstentions. The extractive answerer, default settings.

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/followups.py [--set evals/followups_heldout.json]
        [--json out.json] [--llm-url URL --llm-model M]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from citewise.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

from benchmarks.folder_index import ingest_folder  # noqa: E402
from citewise.conversations import ConversationStore  # noqa: E402
from citewise.settings import GenerationSettings  # noqa: E402
from evals.followups import SET_PATH, load_followups, paragraphs  # noqa: E402
from evals.gate_train import contains_gold  # noqa: E402
from generation import Answerer, answer_json  # noqa: E402
from generation.conversation import Conversations  # noqa: E402
from generation.followup import PriorTurn, QuestionRewriter  # noqa: E402
from generation.providers import build_chat_model  # noqa: E402

CONDITIONS = ("as_asked", "rule_rewrite", "dataset_question")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--set", type=Path, default=SET_PATH, help="the pairs (default evals/followups.json)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures (and every rewrite) here")
    parser.add_argument("--llm-url", help="an OpenAI-compatible server (…/v1) to rewrite with as well")
    parser.add_argument("--llm-model", default="", help="its model name")
    args = parser.parse_args()

    pairs = load_followups(args.datasets, args.set)
    work = Path(tempfile.mkdtemp(prefix="followups-bench-"))
    docs = work / "docs"
    docs.mkdir()
    for name, text in paragraphs(args.datasets):
        (docs / f"{name}.txt").write_text(text, encoding="utf-8")
    built = ingest_folder(docs, work / "data")
    settings, index, retriever = built.settings, built.index, built.retriever
    summary, ingest_s = built.summary, built.ingest_s
    answerer = Answerer.from_settings(settings, retriever)
    chat = Conversations(ConversationStore(settings.data_dir, settings.conversations), QuestionRewriter(None, "rule"))
    llm = None
    if args.llm_url:
        llm_settings = GenerationSettings(
            llm="openai-like", model=args.llm_model, base_url=args.llm_url, max_tokens=60, timeout_s=300, retries=0
        )
        llm = QuestionRewriter(build_chat_model(llm_settings, None), "llm", settings.conversations.rewrite_prompt)
    conditions = (*CONDITIONS, "llm_rewrite") if llm else CONDITIONS

    counts = {c: {"contains_gold": 0, "passage_has_gold": 0, "abstained": 0} for c in conditions}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for pair in pairs:
        conversation = chat.store.create("bench", "bench").conversation_id
        first = chat.prepare(conversation, "bench", "bench", pair.first)
        first_answer = answer_json(answerer.answer(first.standalone, k=args.k))
        chat.record(conversation, "bench", "bench", first, first_answer)
        rewrite = chat.prepare(conversation, "bench", "bench", pair.follow_up)
        asked = {"as_asked": pair.follow_up, "rule_rewrite": rewrite.standalone, "dataset_question": pair.question}
        row: dict[str, Any] = {"id": pair.id, "follow_up": pair.follow_up, "rewritten": rewrite.standalone}
        if llm is not None:
            history = [PriorTurn(pair.first, first.standalone, first_answer["answer"])]
            by_llm = llm.rewrite(pair.follow_up, history)
            asked["llm_rewrite"] = by_llm.standalone
            row["llm_rewritten"], row["llm_method"] = by_llm.standalone, by_llm.method
        for condition, question in asked.items():
            answer = answerer.answer(question, k=args.k)
            hits = retriever.search(question, k=args.k).hits
            found = not answer.abstained and contains_gold(answer.answer, pair.golds)
            in_passages = any(contains_gold(h.chunk.text, pair.golds) for h in hits)
            c = counts[condition]
            c["contains_gold"] += found
            c["passage_has_gold"] += in_passages
            c["abstained"] += answer.abstained
            row[condition] = found
        chat.record(conversation, "bench", "bench", rewrite, {"answer": ""})
        rows.append(row)
    n = len(pairs)
    result = {
        "pairs": n,
        "by_set": {s: sum(1 for p in pairs if p.set == s) for s in sorted({p.set for p in pairs})},
        "documents": summary.files.ingested,  # identical paragraphs (in both datasets) are one document
        "ingest_failures": len(summary.failures),
        "k": args.k,
        "rewritten_by_rule": sum(1 for r in rows if r["rewritten"] != r["follow_up"]),
        **{c: {k: round(v / n, 4) for k, v in counts[c].items()} for c in conditions},
        "llm_rewrites_used": sum(1 for r in rows if r.get("llm_method") == "llm") if llm else None,
        "seconds_ingest": round(ingest_s, 1),
        "seconds_per_pair": round((time.perf_counter() - t0) / max(1, n), 2),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps({**result, "rows": rows}, indent=2, ensure_ascii=False))
    index.close()


if __name__ == "__main__":
    main()
