"""The answerability reader for real: trained from the packaged MiniLM on a few SQuAD 2.0 pairs, saved, loaded
by path, read by the evidence gate through its artifact; and the clear errors for every unusable input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.encoders import resolve_model_path
from citewise.errors import ConfigError, InvalidRequest
from citewise.settings import DEFAULT_DENSE_MODEL
from citewise.types import Chunk, Hit
from evals.answerability_train import reader_pairs, train_reader
from evals.gate_train import contains_gold, load_squad
from generation.answerability import READER_DIR, AnswerabilityReader
from generation.gate import ARTIFACT, QUESTION_FEATURES, READER_FEATURES, EvidenceGate, GateModel, fit_logistic
from generation.gate_features import FEATURES
from generation.support import Scorer
from generation.text import sentence_spans
from generation.verify import Source
from tests.paths import SQUAD2, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _pairs(limit: int = 24) -> list[tuple[str, str, float]]:
    """Real pairs from SQuAD 2.0 article 0: each question against its paragraph's sentences (``reader_pairs``)."""
    pairs: list[tuple[str, str, float]] = []
    for para in load_squad(require(SQUAD2))[0]["paragraphs"]:
        sentences = [s.text for s in sentence_spans(para["context"])]
        for qa in para["qas"]:
            golds = [a["text"] for a in qa["answers"]]
            flags = [contains_gold(s, golds) for s in sentences]
            pairs += reader_pairs(qa["question"], qa["is_impossible"], sentences, flags, negatives=1)
            if len(pairs) >= limit:
                return pairs
    return pairs


@pytest.fixture(scope="module")
def reader_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gate") / READER_DIR
    lines: list[str] = []
    stats = train_reader(_pairs(), out, resolve_model_path(DEFAULT_DENSE_MODEL), epochs=2, batch_size=8,
                         max_length=64, progress=lines.append)  # fmt: skip
    assert stats["epochs"] == 2 and stats["pairs"] == 24 and 0 < stats["positives"] < 24
    assert any("epoch 2/2" in line for line in lines)
    return out


def test_reader_pairs_pick_the_answer_and_a_hard_negative() -> None:
    q = "When was the club founded?"
    got = reader_pairs(q, False, ["It plays in yellow.", "It was founded in 1902.", "Fans sing."], [False, True, False])
    assert got == [(q, "It was founded in 1902.", 1.0), (q, "It plays in yellow.", 0.0)]
    assert reader_pairs(q, True, ["a", "b", "c"], [False] * 3) == [(q, "a", 0.0), (q, "b", 0.0)]
    with pytest.raises(ValueError, match="one holds_gold flag per sentence"):
        reader_pairs(q, False, ["a"], [])


def test_trained_reader_loads_and_scores(reader_dir: Path) -> None:
    reader = AnswerabilityReader(reader_dir)
    probs = reader.probabilities("When did the Normans reach Italy?", ["They reached Italy in 999.", "Rain."])
    assert len(probs) == 2 and all(0.0 < p < 1.0 for p in probs)
    assert reader.probabilities("anything", []) == []
    import torch
    from sentence_transformers import CrossEncoder  # the folder is a plain cross-encoder too

    model = CrossEncoder(str(reader_dir), device="cpu", max_length=64)
    pair = ("When did the Normans reach Italy?", "They reached Italy in 999.")
    logit = float(model.predict([pair], activation_fn=torch.nn.Identity())[0])
    assert abs(1.0 / (1.0 + np.exp(-logit)) - probs[0]) < 1e-4


def _gate(reader: AnswerabilityReader | None) -> GateModel:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, len(FEATURES)))
    sentence = fit_logistic(x, (x[:, 0] > 0).astype(float))
    width = len(READER_FEATURES) if reader else len(QUESTION_FEATURES)
    qx = rng.standard_normal((100, width))
    return GateModel(sentence, fit_logistic(qx, (qx[:, -1] > 0).astype(float)), 0.4, {}, reader)


def test_gate_artifact_with_reader_round_trip_and_assess(reader_dir: Path, tmp_path: Any) -> None:
    data_dir = reader_dir.parent.parent
    path = _gate(AnswerabilityReader(reader_dir)).save(data_dir / ARTIFACT)
    assert json.loads(path.read_text())["reader"] == "answerability-reader"
    gate = EvidenceGate.from_data_dir(data_dir, Scorer(), 0.4)
    assert gate.model is not None and gate.model.reader is not None
    assert gate.model.question_features == READER_FEATURES
    text = "The Normans reached Italy in 999. They came as pilgrims."
    source = Source.from_hit(1, Hit(Chunk(doc_id="d", chunk_index=0, text=text, source="d.txt", title="d",
                                          char_start=0, char_end=len(text)), 1.0))  # fmt: skip
    result = gate.assess("When did the Normans reach Italy?", [source])
    assert result.method == "gate" and 0.0 <= result.probability <= 1.0
    assert result.answerable == (result.probability >= 0.4)


def test_unusable_readers_give_clear_errors(reader_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no answerability reader at .*tune gate --squad DIR --reader"):
        AnswerabilityReader(tmp_path / "nowhere")
    artifact = _gate(AnswerabilityReader(reader_dir)).save(tmp_path / "models" / "evidence-gate.json")
    data = json.loads(artifact.read_text())
    data["reader"] = "gone"  # the artifact names a reader folder that was deleted
    artifact.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"no answerability reader at .*gone"):
        GateModel.load(artifact)
    del data["reader"]  # question weights for reader features but no reader: re-train, never misread
    artifact.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="re-create it with `citewise tune gate"):
        GateModel.load(artifact)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        AnswerabilityReader(broken)
    base = resolve_model_path(DEFAULT_DENSE_MODEL)
    with pytest.raises(InvalidRequest, match="both labels"):
        train_reader([("q", "s", 0.0)] * 4, tmp_path / "r", base)
    with pytest.raises(InvalidRequest, match="0 or 1"):
        train_reader([("q", "s", 0.0), ("q", "t", 0.5)], tmp_path / "r", base)
    with pytest.raises(InvalidRequest, match="BERT-like encoder with at least 9 layers"):
        train_reader([("q", "s", 0.0), ("q", "t", 1.0)], tmp_path / "r", base, trainable_layers=9)
    with pytest.raises(InvalidRequest, match=r"cannot load the reader's base model .*--reader-base"):
        train_reader([("q", "s", 0.0), ("q", "t", 1.0)], tmp_path / "r", str(tmp_path / "no-such-model"))
    bad = CliRunner().invoke(app, ["tune", "gate", "--squad", str(tmp_path), "--reader", "--reader-minutes", "0"])
    assert bad.exit_code == 2 and "--reader-minutes" in bad.output
