"""The evidence gate: do the retrieved passages answer the question? A calibrated probability, not self-support.

Two small logistic regressions, stored together as one JSON artifact (``<data_dir>/models/evidence-gate.json``,
written by ``citewise tune gate``):

- the **sentence model** scores each retrieved sentence on question–sentence features (``gate_features``):
  the probability that it holds the answer. The extractive answerer quotes the best of these.
- the **question model** turns the best sentences' scores (top score, margin over the runner-up, how much of the
  question the passages hold) into the probability that the passages answer the question at all, calibrated on
  held-out questions; the answer carries it as ``answer_probability`` and abstains below ``threshold``.

Without an artifact the gate falls back to the relevance rule (best sentence relevance ≥ ``min_evidence``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from citewise.errors import ConfigError
from generation.answerability import READ_TOP, AnswerabilityReader
from generation.gate_features import FEATURES, Candidate, candidates
from generation.support import Scorer
from generation.text import asks_for_number, new_number, scoring_language
from generation.verify import Source

ARTIFACT = Path("models") / "evidence-gate.json"
FORMAT = "citewise-evidence-gate"
VERSION = 2  # 2: the sentence model learns answer sentences of answerable questions; more question features
# the relevance rule, in a language the encoder does not understand: share of a sentence's score that comes from
# its passage's relevance to the question
PASSAGE_WEIGHT = 0.4
NUMBER_BONUS = 0.2  # added, for a question asking for a number or date, to a sentence with a new number
QUESTION_FEATURES: tuple[str, ...] = (
    "top_logit",
    "margin",
    "coverage",
    "terms_anywhere",
    "names_in_passage",
    "type_match",
    "missing_in_passage",
    "rare_missing",
    "negation_mismatch",
    "cosine",
    "idf_coverage",
    "names_in_sentence",
)
# with an answerability reader (``citewise tune gate --reader``) the question model reads only these: its log-odds
# for the best sentence, and its best log-odds over the top ``READ_TOP`` sentences
READER_FEATURES: tuple[str, ...] = ("reader_top", "reader_best")


@dataclass(frozen=True)
class Logistic:
    """``sigmoid(((x - mean) / scale) · weights + bias)``: a standardized logistic regression."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.scale) @ self.weights + self.bias, dtype=np.float64)

    def json(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "features": list(names),
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "mean": [round(float(m), 6) for m in self.mean],
            "scale": [round(float(s), 6) for s in self.scale],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], names: Sequence[str]) -> Logistic:
        if list(data["features"]) != list(names):
            raise ValueError(f"features {data['features']} differ from this version's {list(names)}")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("weights", "mean", "scale")]
        if any(a.shape != (len(names),) or not np.all(np.isfinite(a)) for a in arrays) or np.any(arrays[2] <= 0):
            raise ValueError("weights, mean and scale must be finite lists of one value per feature (scale > 0)")
        return cls(arrays[0], float(data["bias"]), arrays[1], arrays[2])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> Logistic:
    """Newton's method on the L2-penalized log loss (the bias is not penalized); classes reweighted to balance."""
    if x.ndim != 2 or len(x) != len(y) or len(set(y.tolist())) < 2:
        raise ValueError("fitting needs a 2-D feature matrix and labels of both classes, one per row")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    positives = float(y.sum())
    sample = np.where(y > 0, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (sample * (p - y)) + penalty * w
        hess = (z * (sample * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return Logistic(w[:-1], float(w[-1]), mean, scale)


@dataclass(frozen=True)
class GateModel:
    sentence: Logistic
    question: Logistic
    threshold: float
    provenance: dict[str, Any] = field(default_factory=dict)
    reader: AnswerabilityReader | None = None  # its log-odds are then the question model's features

    @property
    def question_features(self) -> tuple[str, ...]:
        return READER_FEATURES if self.reader is not None else QUESTION_FEATURES

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT,
            "version": VERSION,
            "sentence": self.sentence.json(FEATURES),
            "question": self.question.json(self.question_features),
            "threshold": round(self.threshold, 6),
            "provenance": self.provenance,
        }
        if self.reader is not None:  # a folder beside the artifact, written there by `tune gate --reader`
            data["reader"] = os.path.relpath(self.reader.path, path.parent)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> GateModel:
        """The artifact at ``path``; ``ConfigError`` naming the file and what to do when it is not one."""
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError(f"format/version {data.get('format')}/{data.get('version')}, want {FORMAT}/{VERSION}")
            threshold = float(data["threshold"])
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold {threshold} is outside 0..1")
            reader = None
            if data.get("reader") is not None:
                if not isinstance(data["reader"], str):
                    raise ValueError(f"reader {data['reader']!r} is not a folder name")
                reader = AnswerabilityReader(path.parent / data["reader"])  # ConfigError of its own when unusable
            names = READER_FEATURES if reader is not None else QUESTION_FEATURES
            return cls(
                Logistic.from_json(data["sentence"], FEATURES),
                Logistic.from_json(data["question"], names),
                threshold,
                dict(data.get("provenance", {})),
                reader,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"the evidence gate at {path} is not a usable artifact ({type(exc).__name__}: {exc}); "
                "re-create it with `citewise tune gate --squad DIR` or delete it to use the min_evidence rule"
            ) from None


@dataclass(frozen=True)
class ScoredSentence:
    score: float  # the sentence model's probability (the relevance rule's score without a model)
    source: int
    candidate: Candidate


@dataclass(frozen=True)
class Assessment:
    probability: float  # that the passages answer the question
    answerable: bool
    sentences: tuple[ScoredSentence, ...]  # best first (ties: lower source number, earlier position)
    method: str  # "gate" or "min_evidence"


def question_row(scored: Sequence[ScoredSentence]) -> np.ndarray:
    """The question model's features from the scored sentences (best first)."""
    if not scored:
        return np.array([-10.0, 0.0] + [0.0] * (len(QUESTION_FEATURES) - 2))
    top = scored[0].score
    runner = next((s.score for s in scored[1:] if s.source != scored[0].source), 0.0)
    best = dict(zip(FEATURES, scored[0].candidate.features, strict=True))
    return np.array([_logit(top), top - runner, *(best[name] for name in QUESTION_FEATURES[2:])])


def reader_row(probabilities: Sequence[float]) -> np.ndarray:
    """The reader features from its probabilities for the top sentences (best gate score first)."""
    odds = [_logit(p) for p in probabilities] or [_logit(0.0)]
    return np.array([odds[0], max(odds)])


def read_top(reader: AnswerabilityReader, question: str, scored: Sequence[ScoredSentence]) -> list[float]:
    return reader.probabilities(question, [s.candidate.span.text for s in scored[:READ_TOP]])


class EvidenceGate:
    """Scores sentences and decides whether the passages answer; the trained model, or the relevance rule."""

    def __init__(self, scorer: Scorer, model: GateModel | None = None, min_evidence: float = 0.4) -> None:
        self.scorer = scorer
        self.model = model
        self.min_evidence = min_evidence

    @classmethod
    def from_data_dir(cls, data_dir: Path, scorer: Scorer, min_evidence: float) -> EvidenceGate:
        path = Path(data_dir) / ARTIFACT
        return cls(scorer, GateModel.load(path) if path.exists() else None, min_evidence)

    def score(self, question: str, sources: Sequence[Source]) -> list[ScoredSentence]:
        cands = candidates(question, sources, self.scorer)
        if not cands:
            return []
        if self.model is not None:
            probs = _sigmoid(self.model.sentence.logits(np.stack([c.features for c in cands])))
        else:
            probs = np.asarray(self.scorer.relevance(question, [c.span.text for c in cands]))
            lang = scoring_language(question, [s.text for s in sources])
            if not self.scorer.understands(lang):  # no cosine: the passage around a sentence says what it is about
                passages = self.scorer.relevance(question, [s.text for s in sources], lang)
                by_n = {s.n: p for s, p in zip(sources, passages, strict=True)}
                context = np.asarray([by_n[c.source] for c in cands])
                probs = (1.0 - PASSAGE_WEIGHT) * probs + PASSAGE_WEIGHT * context
                if asks_for_number(question):  # "when", "how many": a sentence with a new number is likelier
                    bonus = np.asarray([float(new_number(c.span.text, question)) for c in cands])
                    probs = np.minimum(1.0, probs + NUMBER_BONUS * bonus)
        scored = [ScoredSentence(round(float(p), 6), c.source, c) for c, p in zip(cands, probs, strict=True)]
        return sorted(scored, key=lambda s: (-s.score, s.source, s.candidate.span.start))

    def assess(self, question: str, sources: Sequence[Source]) -> Assessment:
        scored = self.score(question, sources)
        if self.model is None:
            top = scored[0].score if scored else 0.0
            return Assessment(top, top >= self.min_evidence, tuple(scored), "min_evidence")
        if not scored:
            return Assessment(0.0, self.model.threshold <= 0.0, (), "gate")
        if self.model.reader is not None:  # chosen on dev: the reader alone separates better than with the rest
            row = reader_row(read_top(self.model.reader, question, scored))
        else:
            row = question_row(scored)
        p = float(_sigmoid(self.model.question.logits(row[None, :]))[0])
        return Assessment(round(p, 6), p >= self.model.threshold, tuple(scored), "gate")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -40, 40))))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
