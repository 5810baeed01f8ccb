"""The follow-up set (``evals/followups.json``): two-turn conversations whose gold answers come from SQuAD 2.0
and XQuAD (English) at run time, by question id; no dataset text is stored in the repo.

Each pair: ``first`` (a question that sets the subject), ``follow_up`` (written to need it: "Where did he die?"),
and ``id``, the dataset question the follow-up stands for; its gold answers and the dataset question itself
(the standalone form, an upper bound) are looked up here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest

SET_PATH = Path(__file__).with_name("followups.json")
DATASETS = {
    "squad2": Path("squad2") / "dev-v2.0-articles-0-7.json",
    "xquad-en": Path("xquad") / "xquad.en.json",
}


@dataclass(frozen=True)
class FollowUpPair:
    set: str
    id: str
    first: str
    follow_up: str
    question: str  # the dataset's own (standalone) question
    golds: tuple[str, ...]


def _data(datasets_dir: Path, name: str) -> list[dict[str, Any]]:
    path = datasets_dir / DATASETS[name]
    if not path.is_file():
        raise InvalidRequest(f"{path} not found; pass the folder that holds squad2/ and xquad/ (../shared/datasets)")
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["data"]
    return data


def load_followups(datasets_dir: Path, path: Path = SET_PATH) -> list[FollowUpPair]:
    """The pairs of ``path`` with their gold answers from the datasets under ``datasets_dir``."""
    pairs = json.loads(path.read_text(encoding="utf-8"))["pairs"]
    questions: dict[tuple[str, str], dict[str, Any]] = {}
    for name in {p["set"] for p in pairs}:
        if name not in DATASETS:
            raise InvalidRequest(f"{path}: unknown set {name!r}; use one of {', '.join(DATASETS)}")
        for article in _data(datasets_dir, name):
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    questions[(name, qa["id"])] = qa
    out = []
    for p in pairs:
        qa = questions.get((p["set"], p["id"]))
        if qa is None or not qa["answers"]:
            raise InvalidRequest(f"{path}: {p['set']} has no answerable question {p['id']!r}")
        golds = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
        out.append(FollowUpPair(p["set"], p["id"], p["first"], p["follow_up"], qa["question"], golds))
    return out


def paragraphs(datasets_dir: Path, sets: tuple[str, ...] = tuple(DATASETS)) -> Iterator[tuple[str, str]]:
    """``(name, text)`` of every paragraph of the sets: the documents the conversations are answered from."""
    for name in sets:
        for a, article in enumerate(_data(datasets_dir, name)):
            for p, para in enumerate(article["paragraphs"]):
                yield f"{name}-a{a:02d}-p{p:03d}", para["context"]
