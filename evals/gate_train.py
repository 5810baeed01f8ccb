"""Train the evidence gate on SQuAD 2.0 articles: sentence model on one range, calibration and threshold on another.

Each article paragraph is one chunk in a throwaway embedded index (the real MiniLM + BM25 encoders and hybrid
query), so every question sees what the answerer would see: its top-``k`` retrieved passages, split into
sentences. The sentence model learns to pick the answer: it is fitted on the answerable questions only, a
sentence being a positive when it contains a gold answer (fitting it on unanswerable questions' sentences too,
as version 1 did, mixed "which sentence" with "whether at all" and chose worse sentences: 0.807 against 0.842
gold containment on articles 6-7). The question model (answerable or not) is fitted on the
**dev** articles' sentence scores, and the threshold is the one that abstains most on dev's unanswerable
questions while wrongly abstaining on at most ``max_wrong`` of its answerable ones.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from citewise.encoders import resolve_model_path
from citewise.errors import InvalidRequest
from citewise.settings import DEFAULT_DENSE_MODEL, Settings, load_settings
from citewise.types import Chunk
from evals.answerability_train import reader_pairs, train_reader
from generation.answerability import MAX_LENGTH, AnswerabilityReader
from generation.gate import (
    QUESTION_FEATURES,
    EvidenceGate,
    GateModel,
    Logistic,
    ScoredSentence,
    fit_logistic,
    question_row,
    read_top,
    reader_row,
)
from generation.gate_features import candidates
from generation.support import Scorer
from generation.verify import Source

SQUAD_FILE = "dev-v2.0-articles-0-7.json"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Question:
    text: str
    golds: tuple[str, ...]
    impossible: bool
    article: int


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lowercase, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def contains_gold(text: str, golds: Sequence[str]) -> bool:
    body = normalize(text)
    return any(normalize(g) and normalize(g) in body for g in golds)


def parse_range(spec: str, option: str) -> list[int]:
    """``"0-3"`` → [0, 1, 2, 3]; ``"4"`` → [4]; a clear error otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", spec)
    if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
        raise InvalidRequest(f"{option} {spec!r} is not a range; write FIRST-LAST article numbers, e.g. 0-3")
    first = int(m.group(1))
    return list(range(first, int(m.group(2) or first) + 1))


def load_squad(path: Path) -> list[dict[str, Any]]:
    """The articles of a SQuAD 2.0 JSON file (``path`` or ``path/dev-v2.0-articles-0-7.json``)."""
    file = path / SQUAD_FILE if path.is_dir() else path
    try:
        data = json.loads(file.read_text())["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest(
            f"cannot read SQuAD 2.0 from {file} ({type(exc).__name__}); pass --squad a folder holding "
            f"{SQUAD_FILE} or a SQuAD 2.0 JSON file"
        ) from None
    return list(data)


def pick(articles: list[dict[str, Any]], numbers: Sequence[int], option: str) -> list[tuple[int, dict[str, Any]]]:
    missing = [n for n in numbers if n >= len(articles)]
    if missing:
        raise InvalidRequest(f"{option}: the file has articles 0-{len(articles) - 1}; {missing} do not exist")
    return [(n, articles[n]) for n in numbers]


def questions_of(articles: Sequence[tuple[int, dict[str, Any]]], limit: int = 0) -> list[Question]:
    out = [
        Question(qa["question"], tuple(a["text"] for a in qa["answers"]), bool(qa["is_impossible"]), n)
        for n, article in articles
        for para in article["paragraphs"]
        for qa in para["qas"]
    ]
    if limit and limit < len(out):
        step = len(out) / limit
        out = [out[int(i * step)] for i in range(limit)]
    return out


def chunks_of(articles: Sequence[tuple[int, dict[str, Any]]]) -> list[Chunk]:
    """One chunk per paragraph."""
    return [
        Chunk(
            doc_id=f"a{n:02d}-p{p:03d}",
            chunk_index=0,
            text=para["context"],
            source=f"squad/a{n:02d}-p{p:03d}.txt",
            title=article["title"],
            char_start=0,
            char_end=len(para["context"]),
            file_type="txt",
        )
        for n, article in articles
        for p, para in enumerate(article["paragraphs"])
    ]


@contextmanager
def squad_retriever(articles: Sequence[tuple[int, dict[str, Any]]], base: Settings | None = None) -> Iterator[Any]:
    """A Retriever over the articles' paragraphs in a throwaway embedded index (no reranker)."""
    from citewise.encoders import Bm25Encoder, collection_spec, load_dense_encoder
    from citewise.index import open_index
    from ingest.steps import encode
    from retrieval import Retriever

    with tempfile.TemporaryDirectory(prefix="citewise-gate-") as tmp:
        update: dict[str, Any] = {"data_dir": Path(tmp)}
        settings = (base or load_settings()).model_copy(update=update)
        dense = load_dense_encoder(settings.encoder, settings.data_dir)
        sparse = Bm25Encoder()
        index = open_index(settings)
        try:
            index.ensure(collection_spec(dense))
            chunks = chunks_of(articles)
            for start in range(0, len(chunks), 64):
                index.upsert(encode(chunks[start : start + 64], dense, sparse))
            yield Retriever(settings.retrieval, index, dense, sparse, reranker=None)
        finally:
            index.close()


def retrieved(retriever: Any, question: str, k: int) -> list[Source]:
    result = retriever.search(question, k=k, rerank=False)
    return [Source.from_hit(i, hit) for i, hit in enumerate(result.hits, 1)]


@dataclass(frozen=True)
class TrainQuestion:
    """One training question's retrieved sentences: texts, feature rows, and whether each holds a gold answer."""

    question: Question
    texts: list[str]
    features: np.ndarray
    holds_gold: list[bool]


def train_questions(
    retriever: Any, scorer: Scorer, questions: Sequence[Question], k: int, progress: Progress | None = None
) -> list[TrainQuestion]:
    out = []
    for i, q in enumerate(questions, 1):
        cands = candidates(q.text, retrieved(retriever, q.text, k), scorer)
        if cands:
            texts = [c.span.text for c in cands]
            flags = [contains_gold(t, q.golds) for t in texts]
            out.append(TrainQuestion(q, texts, np.stack([c.features for c in cands]), flags))
        if progress and i % 100 == 0:
            progress(f"train: {i}/{len(questions)} questions")
    return out


def sentence_rows(items: Sequence[TrainQuestion]) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and labels (the sentence holds a gold answer) of the answerable questions' sentences."""
    chosen = [t for t in items if not t.question.impossible]
    if not chosen:
        raise InvalidRequest("the training articles have no answerable question with retrieved sentences")
    rows = np.concatenate([t.features for t in chosen])
    return rows, np.asarray([float(g) for t in chosen for g in t.holds_gold])


def reader_training_pairs(items: Sequence[TrainQuestion], sentence: Logistic) -> list[tuple[str, str, float]]:
    """The reader's pairs: each question's sentences ranked by the fitted sentence model (``reader_pairs``)."""
    pairs = []
    for t in items:
        order = np.argsort(-sentence.logits(t.features), kind="stable")
        texts = [t.texts[i] for i in order]
        pairs += reader_pairs(t.question.text, t.question.impossible, texts, [t.holds_gold[i] for i in order])
    return pairs


def assessments(
    retriever: Any, gate: EvidenceGate, questions: Sequence[Question], k: int, progress: Progress | None = None
) -> list[list[ScoredSentence]]:
    out = []
    for i, q in enumerate(questions, 1):
        out.append(gate.score(q.text, retrieved(retriever, q.text, k)))
        if progress and i % 100 == 0:
            progress(f"dev: {i}/{len(questions)} questions")
    return out


def choose_threshold(probs: np.ndarray, impossible: np.ndarray, max_wrong: float) -> tuple[float, dict[str, float]]:
    """The threshold abstaining most on unanswerable questions with at most ``max_wrong`` answerable abstained."""
    best = (0.0, {"unanswerable_abstained": 0.0, "answerable_abstained": 0.0})
    for t in np.unique(np.concatenate([[0.0], probs])):
        abstain = probs < t
        wrong = float(abstain[~impossible].mean()) if (~impossible).any() else 0.0
        right = float(abstain[impossible].mean()) if impossible.any() else 0.0
        if wrong <= max_wrong and right >= best[1]["unanswerable_abstained"]:
            best = (float(t), {"unanswerable_abstained": right, "answerable_abstained": wrong})
    return best


def train_gate(
    squad: Path,
    train_articles: Sequence[int],
    dev_articles: Sequence[int],
    k: int = 5,
    max_wrong: float = 0.12,
    limit: int = 0,
    settings: Settings | None = None,
    progress: Progress | None = None,
    reader_dir: Path | None = None,
    reader_seconds: float = 900.0,
    reader_base: str = DEFAULT_DENSE_MODEL,
) -> GateModel:
    """Fit the sentence model on ``train_articles`` and calibrate on ``dev_articles`` (never the same).

    With ``reader_dir``, an answerability reader is also fine-tuned on the training articles (at most
    ``reader_seconds``) from ``reader_base``, saved there, and its scores join the question model's features."""
    if set(train_articles) & set(dev_articles):
        raise InvalidRequest("--train-articles and --dev-articles overlap; the gate must be tuned on unseen articles")
    articles = load_squad(squad)
    train = pick(articles, train_articles, "--train-articles")
    dev = pick(articles, dev_articles, "--dev-articles")
    started = time.perf_counter()
    with squad_retriever(train + dev, settings) as retriever:
        scorer = Scorer(retriever.dense)
        train_q, dev_q = questions_of(train, limit), questions_of(dev, limit)
        items = train_questions(retriever, scorer, train_q, k, progress)
        x, y = sentence_rows(items)
        if y.sum() == 0 or y.sum() == len(y):
            raise InvalidRequest("the training articles gave sentences of one class only; use more articles")
        sentence = fit_logistic(x, y)
        reader, reader_stats = None, None
        if reader_dir is not None:
            pairs = reader_training_pairs(items, sentence)
            base = resolve_model_path(reader_base)
            reader_stats = train_reader(pairs, reader_dir, base, max_seconds=reader_seconds, progress=progress)
            reader = AnswerabilityReader(reader_dir)
        width = len(QUESTION_FEATURES)
        placeholder = Logistic(np.zeros(width), 0.0, np.zeros(width), np.ones(width))
        gate = EvidenceGate(scorer, GateModel(sentence, placeholder, 0.5))
        scored = assessments(retriever, gate, dev_q, k, progress)
        rows = [question_row(s) for s in scored]
        if reader is not None:
            rows = [reader_row(read_top(reader, q.text, s)) for q, s in zip(dev_q, scored, strict=True)]
    qx = np.stack(rows)
    impossible = np.asarray([q.impossible for q in dev_q])
    question = fit_logistic(qx, (~impossible).astype(float))
    probs = 1.0 / (1.0 + np.exp(-question.logits(qx)))
    threshold, dev_rates = choose_threshold(probs, impossible, max_wrong)
    provenance = {
        "dataset": f"squad2/{SQUAD_FILE}",
        "train_articles": list(train_articles),
        "dev_articles": list(dev_articles),
        "k": k,
        "train_questions": len(train_q),
        "train_answerable_questions": sum(not q.impossible for q in train_q),
        "train_sentences": len(y),
        "train_positive_sentences": int(y.sum()),
        "dev_questions": len(dev_q),
        "max_wrong_abstain": max_wrong,
        "dev": {key: round(v, 4) for key, v in dev_rates.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    if reader_stats is not None:
        provenance["reader"] = {"base_model": reader_base, "max_length": MAX_LENGTH, **reader_stats}
    return GateModel(sentence, question, threshold, provenance, reader)
