"""HTML reports: plots embedded as PNG, readable per-row tables, everything from the data escaped."""

from __future__ import annotations

import base64
import re

from evals.report import render_html

PNG = b"\x89PNG\r\n\x1a\n"


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_retrieval_report_plots_modes_and_marks_relevant_documents() -> None:
    modes = {
        m: {"metrics": {"ndcg@10": v, "recall@100": 1.0}, "latency_ms": {"p50": 5.0, "p95": 9.0}, "rerank_status": {}}
        for m, v in (("dense", 0.6), ("hybrid", 0.7))
    }
    report = {
        "kind": "retrieval",
        "dataset": {"name": "tiny", "split": "test", "queries": 1, "documents": 3},
        "collection": "beir_tiny",
        "ingest": {"ingested": 3},
        "modes": modes,
        "metrics": {"dense/ndcg@10": 0.6, "hybrid/ndcg@10": 0.7},
        "per_query": {
            "q1": {
                "query": "is <b>x</b> & y?",
                "relevant": ["d2"],
                "modes": {m: {"metrics": {"ndcg@10": 0.5}, "top": ["d1", "d2"]} for m in modes},
            }
        },
        "gate": {"passed": False, "max_drop": 0.02, "checked": ["hybrid/ndcg@10"], "regressions": [
            {"metric": "hybrid/ndcg@10", "baseline": 0.8, "current": 0.7, "drop": 0.1}
        ]},
    }  # fmt: skip
    html = render_html(report, {"baseline": {"metrics": {"dense/ndcg@10": 0.61, "hybrid/ndcg@10": 0.8}}})
    images = _images(html)
    assert len(images) == 3 and all(img.startswith(PNG) for img in images)  # quality, latency, vs baseline
    assert "is &lt;b&gt;x&lt;/b&gt; &amp; y?" in html and "<b>x</b>" not in html
    assert '<span class="rel">d2</span>' in html and '<span class="rel">d1</span>' not in html
    assert "FAILED" in html and "hybrid/ndcg@10" in html


def test_answers_report_shows_question_answer_citations_and_scores() -> None:
    report = {
        "kind": "answers",
        "dataset": {"name": "qa"},
        "metrics": {"exact_quote": 0.5, "ragas/faithfulness": 0.25},
        "notes": ["faithfulness: the judge could not score 1 question(s)"],
        "per_question": [
            {
                "question": "Where is Normandy?",
                "answer": "In France [1].",
                "abstained": False,
                "reference": "France",
                "citations": [
                    {"n": 1, "title": "Normans", "quote": "a region in France", "exact": False, "supports": True}
                ],
                "scores": {"token_f1": 0.667, "ragas/faithfulness": None},
            }
        ],
    }
    html = render_html(report)
    assert len(_images(html)) == 1
    for text in (
        "Where is Normandy?",
        "In France [1].",
        "a region in France",
        "quote not in source",
        "token_f1: 0.667",
    ):
        assert text in html
    assert "judge could not score" in html
