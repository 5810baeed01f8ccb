"""SQuAD-format files as retrieval sets: the article splits of ``evals.qa_retrieval``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citewise.errors import InvalidRequest
from evals.qa_retrieval import load_qa_retrieval


def _file(tmp_path: Path, articles: int) -> Path:
    data = {
        "data": [
            {
                "title": f"T{a}",
                "paragraphs": [
                    {
                        "context": f"Paragraph of article {a}.",
                        "qas": [
                            {
                                "id": f"q{a}",
                                "question": f"What is in article {a}?",
                                "answers": [{"text": "x", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
            for a in range(articles)
        ]
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data))
    return path


def test_article_numbers_choose_the_questions_and_keep_the_whole_corpus(tmp_path: Path) -> None:
    f = _file(tmp_path, 8)
    held = load_qa_retrieval(f, "articles", (6, 7))
    assert sorted(held.queries) == ["q6", "q7"] and len(held.corpus) == 8
    assert held.qrels["q6"] == {"T6#0": 1} and held.split == "articles 6,7"
    assert sorted(load_qa_retrieval(f, "articles", range(6)).queries) == [f"q{a}" for a in range(6)]
    assert sorted(load_qa_retrieval(f, "dev").queries) == ["q0", "q2", "q4", "q6"]


def test_article_split_needs_numbers_and_names_an_empty_choice(tmp_path: Path) -> None:
    f = _file(tmp_path, 2)
    with pytest.raises(InvalidRequest, match="pass article numbers"):
        load_qa_retrieval(f, "articles")
    with pytest.raises(InvalidRequest, match="pass article numbers"):
        load_qa_retrieval(f, "test", (1,))
    with pytest.raises(InvalidRequest, match=r"no answerable questions .*articles 5"):
        load_qa_retrieval(f, "articles", (5,))
