"""Answers in the document's language on the real stack: XQuAD paragraphs in Chinese and Arabic ingested as files
into the embedded index, the real MiniLM encoder (English only, so retrieval is BM25 for these questions), the
docstore for quotes. Each question must be answered from its own paragraph with a byte-exact quote that holds
the gold answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citewise.encoders import encoder_languages
from generation import Answerer
from retrieval import Retriever
from tests.ingest_support import ingest_folder
from tests.paths import SHARED, require

pytestmark = [pytest.mark.integration]

XQUAD = SHARED / "datasets" / "xquad"
ARTICLES = 2  # Super Bowl 50 and Warsaw: 10 paragraphs, close topics within each article, real distractors
# (paragraph, question) per language: numbers, names, phrases; from both articles
QUESTIONS = {"zh": [(0, 0), (1, 0), (3, 1), (8, 0)], "ar": [(1, 0), (2, 2), (3, 1), (8, 0)]}


def load_xquad(lang: str) -> list[tuple[str, list[dict[str, Any]]]]:
    data = json.loads(require(XQUAD / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]
    return [(p["context"], p["qas"]) for article in data[:ARTICLES] for p in article["paragraphs"]]


@pytest.fixture(scope="module", params=["zh", "ar"])
def stack(
    request: Any, tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any
) -> Iterator[Any]:
    lang = request.param
    root = tmp_path_factory.mktemp(f"answers-{lang}")
    paragraphs = load_xquad(lang)
    (root / "docs").mkdir()
    for i, (text, _) in enumerate(paragraphs):
        (root / "docs" / f"p{i:02d}.txt").write_text(text, encoding="utf-8")
    settings, index, store = ingest_folder(root / "docs", root / "data", dense_encoder, bm25_encoder)
    retriever = Retriever(
        settings.retrieval, index, dense_encoder, bm25_encoder, reranker=None,
        languages=encoder_languages(settings.encoder),
    )  # fmt: skip
    yield lang, Answerer.from_settings(settings, retriever), store, paragraphs
    index.close()


def test_questions_are_answered_from_their_paragraph_with_exact_quotes(stack: Any) -> None:
    lang, answerer, store, paragraphs = stack
    for p, q in QUESTIONS[lang]:
        qa = paragraphs[p][1][q]
        answer = answerer.answer(qa["question"], k=5)
        assert not answer.abstained, (qa["question"], answer.answer)
        assert any(g["text"] in answer.answer for g in qa["answers"]), (qa["question"], answer.answer)
        assert {Path(c.source).name for c in answer.citations} == {f"p{p:02d}.txt"}
        for c in answer.citations:
            assert store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote
        assert all(s.text in answer.citations[0].quote for s in answer.sentences if s.shown)
