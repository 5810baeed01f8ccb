"""The public JSON form of an answer (CLI ``--json`` and the API share it)."""

from __future__ import annotations

from typing import Any

from citewise.types import Answer, Citation


def citation_json(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n,
        "doc_id": c.doc_id,
        "chunk_id": c.chunk_id,
        "source": c.source,
        "title": c.title,
        "page": c.page,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "quote": c.quote,
        "ocr": c.ocr,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "answer": answer.answer,
        "abstained": answer.abstained,
        "citations": [citation_json(c) for c in answer.citations],
        "sentences": [
            {
                "text": s.text,
                "supported": s.supported,
                "citations": list(s.citations),
                "support": s.support_score,
                "relevance": s.relevance,
                "shown": s.shown,
                "reason": s.reason or None,
            }
            for s in answer.sentences
        ],
        "prompt": answer.prompt,
        "prompt_hash": answer.prompt_hash,
        "model": answer.model,
        "fallback_from": answer.fallback_from or None,
        "usage": {
            "prompt_tokens": answer.usage.prompt_tokens,
            "completion_tokens": answer.usage.completion_tokens,
            "cost_usd": answer.usage.cost_usd,
            "estimated": answer.usage.estimated,
        },
        "timings_ms": dict(answer.timings_ms),
        "answer_id": answer.answer_id,
        "evidence": answer.evidence,
        "answer_probability": answer.answer_probability,
    }
