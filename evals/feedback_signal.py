"""Exported feedback as a retrieval signal: ``citewise tune encoder --feedback FILE`` and ``citewise tune retrieval
--feedback FILE`` read the JSONL that ``citewise eval export-feedback`` writes (evals/feedback_export.py).

Each answerable question whose cited quotes (``reference_contexts``) are still in the collection becomes a judged
query: its relevant documents are the sources of the chunks that hold a quote verbatim, and its positive passage
(for the encoder) is the first such chunk's text. A question is left out, and counted, when it is unanswerable
(an approved abstention), cites nothing, or none of its quotes is found: the document changed or was deleted
since the answer, or PII masking altered the quote. The collection is the corpus (the set's own corpus is empty),
as for synthetic queries.

Finding the quotes reads every chunk once (``Index.scroll``) and tests each quote still unfound against its text:
seconds for 100k chunks and a few hundred questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from citewise.errors import InvalidRequest
from citewise.index import Index
from evals.beir import BeirDataset, BeirDoc, Qrels
from evals.qa import load_qa


@dataclass(frozen=True)
class FeedbackSignal:
    """The judged queries made from one feedback file, the positive text of each, and what was left out."""

    dataset: BeirDataset
    positives: dict[str, str]  # query id -> the text of the first chunk holding one of its quotes
    skipped: dict[str, int]  # reason -> questions left out


def feedback_signal(index: Index, path: str | Path) -> FeedbackSignal:
    """The judged queries of the exported feedback ``path`` against the collection of ``index``."""
    if Path(path).suffix.lower() != ".jsonl":
        raise InvalidRequest(f"--feedback {path}: pass the .jsonl file that `citewise eval export-feedback` wrote")
    qa = load_qa(path)
    skipped = {"unanswerable": 0, "no quotes": 0, "quotes not found": 0}
    wanted: dict[str, tuple[str, ...]] = {}
    for item in qa.items:
        quotes = tuple(q for q in item.reference_contexts if len(q.strip()) >= 10)
        if not item.answerable:
            skipped["unanswerable"] += 1
        elif not quotes:
            skipped["no quotes"] += 1
        else:
            wanted[item.qid] = quotes
    found = _locate(index, {q for quotes in wanted.values() for q in quotes})
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    positives: dict[str, str] = {}
    questions = {item.qid: item.question for item in qa.items}
    for qid, quotes in wanted.items():
        hits = [found[q] for q in quotes if q in found]
        if not hits:
            skipped["quotes not found"] += 1
            continue
        queries[qid] = questions[qid]
        qrels[qid] = {source: 1 for source, _ in hits}
        positives[qid] = hits[0][1]
    if not queries:
        raise InvalidRequest(
            f"--feedback {path}: no question can be used ({_said(skipped)}); it needs thumbs-up answers or "
            f"corrections whose cited quotes are still in collection {index.collection!r}"
        )
    empty: tuple[BeirDoc, ...] = ()
    dataset = BeirDataset(qa.name, qa.path, "feedback", empty, queries, qrels)
    return FeedbackSignal(dataset, positives, {k: v for k, v in skipped.items() if v})


def _locate(index: Index, quotes: set[str]) -> dict[str, tuple[str, str]]:
    """quote -> (source, chunk text) of the first chunk whose text holds it verbatim."""
    left, found = set(quotes), {}
    offset: str | None = None
    while left:
        records, offset = index.scroll(limit=512, offset=offset)
        for r in records:
            text, source = str(r.payload.get("text", "")), str(r.payload.get("source", ""))
            for quote in [q for q in left if q in text]:
                found[quote] = (source, text)
                left.discard(quote)
        if offset is None:
            break
    return found


def _said(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items() if n) or "the file holds none"
