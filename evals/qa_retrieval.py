"""SQuAD-format QA files (SQuAD 2.0, XQuAD) as retrieval sets: each answerable question -> the paragraph it was
asked about. The corpus is every paragraph of the file; the questions are split deterministically:

- ``dev`` / ``test``: by article (even / odd position in the file), so no article has questions in both.
  XQuAD's files (one per language) hold the same articles in the same order, so its splits match across
  languages. Choose settings on ``dev`` (or a BEIR ``train`` split), report on ``test``.
- ``all``: every answerable question.
- ``articles``: the questions of the articles numbered ``articles`` (0-based positions in the file), e.g.
  SQuAD articles 0-5 to choose on and 6-7 to report on.

Document ids are ``<article title>#<paragraph number>``, as in ``evals.qa.load_squad``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest
from evals.beir import BeirDataset, BeirDoc, Qrels

SPLITS = ("dev", "test", "all", "articles")


def load_qa_retrieval(path: str | Path, split: str = "test", articles: Sequence[int] = ()) -> BeirDataset:
    """A SQuAD-format JSON file as a BEIR-shaped retrieval set (corpus, queries of ``split``, qrels)."""
    if split not in SPLITS:
        raise InvalidRequest(f"split {split!r} is unknown for a QA file; use one of {', '.join(SPLITS)}")
    if (split == "articles") != bool(articles):
        raise InvalidRequest("pass article numbers with split 'articles' (and only then), e.g. articles=[6, 7]")
    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidRequest(f"QA file not found: {path}; pass a SQuAD 2.0 or XQuAD .json file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(
            f"{path} is not a SQuAD-format JSON file ({exc}); pass a SQuAD 2.0 or XQuAD file"
        ) from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidRequest(f"{path} has no 'data' list of articles; pass a SQuAD 2.0 or XQuAD .json file")
    corpus: list[BeirDoc] = []
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    for a, article in enumerate(items):
        title = str(article.get("title", ""))
        for n, paragraph in enumerate(article.get("paragraphs", [])):
            doc_id = f"{title}#{n}"
            corpus.append(BeirDoc(doc_id, title.replace("_", " "), str(paragraph.get("context", ""))))
            if split == "articles" and a not in articles:
                continue
            if split in ("dev", "test") and (a % 2 == 0) != (split == "dev"):
                continue
            for qa in paragraph.get("qas", []):
                if _answerable(qa):
                    qid = str(qa["id"])
                    queries[qid] = str(qa["question"]).strip()
                    qrels[qid] = {doc_id: 1}
    if not queries:
        raise InvalidRequest(f"{path} has no answerable questions in split {split!r}{_named(articles)}")
    name = _named(articles).strip(" ()") or split
    return BeirDataset(file.stem, file.resolve(), name, tuple(corpus), queries, qrels)


def _named(articles: Sequence[int]) -> str:
    return f" (articles {','.join(map(str, articles))})" if articles else ""


def _answerable(qa: dict[str, Any]) -> bool:
    return not qa.get("is_impossible", False) and bool(qa.get("answers")) and "id" in qa and "question" in qa
