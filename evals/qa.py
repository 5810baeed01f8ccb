"""QA sets: a JSONL file (``question``, optional ``reference``, ``reference_contexts``, ``id``, ``answerable``)
or SQuAD 2.0 JSON, whose paragraphs become the documents to answer from (unanswerable questions included).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest
from evals.beir import BeirDoc
from evals.jsonl import jsonl_objects


@dataclass(frozen=True)
class QAItem:
    qid: str
    question: str
    references: tuple[str, ...] = ()  # acceptable reference answers (SQuAD has several)
    reference_contexts: tuple[str, ...] = ()
    answerable: bool = True

    @property
    def reference(self) -> str | None:
        return self.references[0] if self.references else None


@dataclass(frozen=True)
class QASet:
    name: str
    path: Path
    items: tuple[QAItem, ...]
    documents: tuple[BeirDoc, ...] = ()  # the documents to answer from; empty: use an existing collection

    def sample(self, limit: int | None) -> QASet:
        """The first ``limit`` questions by sha256 of their id: a fixed, mixed sample of any size."""
        if limit is None or limit >= len(self.items):
            return self
        if limit < 1:
            raise InvalidRequest(f"--limit {limit} must be at least 1")
        ordered = sorted(self.items, key=lambda q: hashlib.sha256(q.qid.encode()).hexdigest())[:limit]
        return QASet(self.name, self.path, tuple(ordered), self.documents)


def load_qa(path: str | Path) -> QASet:
    """JSONL (``.jsonl``) or SQuAD 2.0 JSON (``.json`` with ``data[].paragraphs``)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidRequest(f"QA file not found: {path}; pass a .jsonl QA set or a SQuAD 2.0 .json file")
    if file.suffix.lower() == ".jsonl":
        return load_jsonl(file)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); QA sets are .jsonl") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return load_squad(file, data)
    raise InvalidRequest(f"{path} is neither JSONL (one question per line) nor SQuAD 2.0 JSON (with data[])")


def load_jsonl(path: Path) -> QASet:
    items = []
    for number, row in jsonl_objects(path):
        if not str(row.get("question") or "").strip():
            raise InvalidRequest(f'{path}:{number} needs a non-empty "question"')
        items.append(
            QAItem(
                qid=str(row.get("id", number)),
                question=str(row["question"]).strip(),
                references=_strings(row.get("reference"), path, number, "reference"),
                reference_contexts=_strings(row.get("reference_contexts"), path, number, "reference_contexts"),
                answerable=bool(row.get("answerable", True)),
            )
        )
    if not items:
        raise InvalidRequest(f"{path} holds no questions")
    return QASet(path.stem, path.resolve(), tuple(items))


def _strings(value: Any, path: Path, number: int, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidRequest(f'{path}:{number}: "{key}" must be a string or a list of strings')


def load_squad(path: Path, data: dict[str, Any]) -> QASet:
    """Paragraphs -> documents ``<title>#<n>``; answers -> references; ``is_impossible`` -> unanswerable."""
    docs: list[BeirDoc] = []
    items: list[QAItem] = []
    for article in data["data"]:
        title = str(article.get("title", "")).replace("_", " ")
        for n, paragraph in enumerate(article.get("paragraphs", [])):
            context = str(paragraph.get("context", ""))
            docs.append(BeirDoc(f"{article.get('title', '')}#{n}", title, context))
            for qa in paragraph.get("qas", []):
                impossible = bool(qa.get("is_impossible", False))
                answers = tuple(dict.fromkeys(str(a["text"]) for a in qa.get("answers", [])))
                items.append(
                    QAItem(
                        qid=str(qa["id"]),
                        question=str(qa["question"]).strip(),
                        references=() if impossible else answers,
                        reference_contexts=() if impossible else (context,),
                        answerable=not impossible,
                    )
                )
    if not items:
        raise InvalidRequest(f"{path} holds no questions")
    return QASet(path.stem, path.resolve(), tuple(items), tuple(docs))
