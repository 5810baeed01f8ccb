"""The evidence gate on held-out SQuAD 2.0 articles: abstention and gold containment of the extractive answerer.

The gate must have been trained on other articles (``citewise tune gate --train-articles 0-3 --dev-articles 4-5``);
this script answers every question of ``--articles`` (default 6-7) over an index of those articles' paragraphs
(one chunk each, MiniLM + BM25 hybrid, no reranker, k=5), once with the gate and once with the min_evidence rule,
and prints the three rates of issue 16 plus ``--show`` sample answers.

    PYTHONPATH=. nice .venv/bin/python benchmarks/squad_gate.py --gate DATA_DIR/models/evidence-gate.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from citewise.offline import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

from citewise.settings import load_settings  # noqa: E402
from evals.gate_train import (  # noqa: E402
    contains_gold,
    load_squad,
    parse_range,
    pick,
    questions_of,
    squad_retriever,
)
from generation import Answerer  # noqa: E402
from generation.gate import EvidenceGate, GateModel  # noqa: E402
from generation.support import Scorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gate", type=Path, required=True, help="the artifact written by `citewise tune gate`")
    parser.add_argument("--squad", type=Path, default=REPO.parent / "shared" / "datasets" / "squad2")
    parser.add_argument("--articles", default="6-7")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--show", type=int, default=20, help="print this many answers (taken evenly)")
    args = parser.parse_args()

    model = GateModel.load(args.gate)
    test = parse_range(args.articles, "--articles")
    seen = set(model.provenance.get("train_articles", [])) | set(model.provenance.get("dev_articles", []))
    if seen & set(test):
        sys.exit(f"the gate saw articles {sorted(seen & set(test))}; report only on articles it never saw")
    articles = pick(load_squad(args.squad), test, "--articles")
    questions = questions_of(articles)
    settings = load_settings()
    result: dict[str, object] = {"articles": test, "questions": len(questions), "k": args.k}
    samples = []
    with squad_retriever(articles, settings) as retriever:
        scorer = Scorer(retriever.dense)
        for name, gate_model in (("gate", model), ("min_evidence", None)):
            gate = EvidenceGate(scorer, gate_model, settings.generation.min_evidence)
            answerer = Answerer(settings.generation, retriever, None, scorer, gate=gate)
            counts = dict.fromkeys(("answerable", "unanswerable", "abst_ans", "abst_unans", "answered", "gold"), 0)
            t0 = time.perf_counter()
            for i, q in enumerate(questions):
                a = answerer.answer(q.text, k=args.k)
                kind = "unanswerable" if q.impossible else "answerable"
                counts[kind] += 1
                if q.impossible:
                    counts["abst_unans"] += a.abstained
                elif a.abstained:
                    counts["abst_ans"] += 1
                else:
                    counts["answered"] += 1
                    counts["gold"] += contains_gold(a.answer, q.golds)
                if name == "gate" and args.show and i % max(1, len(questions) // args.show) == 0:
                    samples.append({"question": q.text, "impossible": q.impossible, "golds": list(q.golds[:2]),
                                    "abstained": a.abstained, "p": a.answer_probability,
                                    "answer": a.answer[:300]})  # fmt: skip
            result[name] = {
                "unanswerable_abstained": round(counts["abst_unans"] / max(1, counts["unanswerable"]), 3),
                "answerable_abstained": round(counts["abst_ans"] / max(1, counts["answerable"]), 3),
                "gold_in_answered_answerable": round(counts["gold"] / max(1, counts["answered"]), 3),
                "counts": counts,
                "ms_per_question": round((time.perf_counter() - t0) * 1000 / max(1, len(questions)), 1),
            }
            print(name, json.dumps(result[name]), file=sys.stderr, flush=True)
    result["samples"] = samples
    result["gate_provenance"] = model.provenance
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
