"""The evidence gate: fitting, the JSON artifact (save, load, corrupt), features, and the `tune gate` CLI's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.errors import ConfigError
from citewise.types import Chunk, Hit
from generation.extractive import focus
from generation.gate import QUESTION_FEATURES, EvidenceGate, GateModel, fit_logistic
from generation.gate_features import FEATURES, candidates, names, pieces, question_type, type_match
from generation.support import Scorer
from generation.text import SOURCE_MARKER, Span
from generation.verify import Source


def _model(seed: int = 0) -> GateModel:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((200, len(FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 6] > 0).astype(float)
    sentence = fit_logistic(x, y)
    qx = rng.standard_normal((100, len(QUESTION_FEATURES)))
    question = fit_logistic(qx, (qx[:, 0] > 0).astype(float))
    return GateModel(sentence, question, 0.4, {"train_articles": [0]})


def test_fit_learns_the_signal_and_rejects_one_class() -> None:
    model = _model()
    assert model.sentence.weights[0] > 1.0 and model.sentence.weights[6] > 0.3
    with pytest.raises(ValueError, match="both classes"):
        fit_logistic(np.ones((4, 2)), np.zeros(4))


def test_artifact_round_trip_and_corrupt_files(tmp_path: Path) -> None:
    path = _model().save(tmp_path / "models" / "evidence-gate.json")
    loaded = GateModel.load(path)
    assert np.allclose(loaded.sentence.weights, _model().sentence.weights, atol=1e-5) and loaded.threshold == 0.4
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="citewise tune gate"):
        GateModel.load(path)
    data = json.loads(_model().save(tmp_path / "ok.json").read_text())
    data["sentence"]["weights"] = data["sentence"]["weights"][:3]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="one value per feature"):
        EvidenceGate.from_data_dir(tmp_path, Scorer(), 0.4)
    assert EvidenceGate.from_data_dir(tmp_path / "empty", Scorer(), 0.4).model is None  # fallback: min_evidence
    data = json.loads(_model().save(tmp_path / "ok.json").read_text())
    data["version"] = 1  # an artifact of the previous feature set: re-train, never misread
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="re-create it with `citewise tune gate"):
        GateModel.load(path)


def test_features_and_markers() -> None:
    assert question_type("When was Iwan Roberts born?") == "date"
    assert question_type("How many Stanley Cups have the Maple Leafs won?") == "number"
    assert question_type("Who founded the club?") == "person"
    assert type_match("date", "He was born on 26 June 1968.", "When was he born?") == 1.0
    assert type_match("number", "No figures here.", "How many goals?") == 0.0
    assert names("When did the Normans reach Italy in 1017?") == {"normans", "italy", "1017"}
    assert SOURCE_MARKER.findall("born 1968,[1] and [citation needed] grew [12]") == ["1", "citation needed", "12"]
    text = "In 1903, Harvard Stadium introduced a new era into football. It was not shared."
    source = Source.from_hit(1, Hit(Chunk(doc_id="d", chunk_index=0, text=text, source="d.txt", title="d",
                                          char_start=0, char_end=len(text)), 1.0))  # fmt: skip
    question = "How did Yale introduce a new era in non shared football?"
    rows = {c.span.text: dict(zip(FEATURES, c.features, strict=True)) for c in candidates(question, [source], Scorer())}
    first, second = rows["In 1903, Harvard Stadium introduced a new era into football."], rows["It was not shared."]
    assert first["names_in_sentence"] == 0.0 and first["negation_mismatch"] == 1.0  # "Yale" absent; "non" negates
    assert second["negation_mismatch"] == 0.0
    block = Span(0, 41, "Name | Cups\nBlues | 1\nLeafs | 13\nFlyers | 2")
    assert [p.text for p in pieces(block)] == ["Name | Cups", "Blues | 1", "Leafs | 13", "Flyers | 2"]


def test_focus_quotes_one_passage_and_caps_tables() -> None:
    table = "Team | Location | Cups\nBlues | STL | 1\nMaple Leafs | TOR | 13\nFlyers | PHI | 2"
    chunks = [Chunk(doc_id=d, chunk_index=0, text=t, source=f"{d}.txt", title=d, char_start=0, char_end=len(t))
              for d, t in (("cups", table), ("other", "The Maple Leafs play in Toronto. They wear blue."))]  # fmt: skip
    sources = [Source.from_hit(i, Hit(c, 1.0)) for i, c in enumerate(chunks, 1)]
    gate = EvidenceGate(Scorer(), None, 0.0)
    scored = gate.score("How many cups have the Maple Leafs won?", sources)
    verified = focus(scored, "How many cups have the Maple Leafs won?", 3)
    assert [s.text for s in verified.sentences] == ["Team | Location | Cups", "Maple Leafs | TOR | 13"]
    assert {n for s in verified.sentences for n in s.citations} == {1}


def test_tune_gate_rejects_bad_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    bad = runner.invoke(app, ["tune", "gate", "--squad", str(tmp_path), "--train-articles", "3-1"])
    assert bad.exit_code == 2 and "FIRST-LAST" in bad.output
    missing = runner.invoke(app, ["tune", "gate", "--squad", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "dev-v2.0-articles-0-7.json" in missing.output
    overlap = runner.invoke(app, ["tune", "gate", "--squad", str(tmp_path), "--dev-articles", "2-4"])
    assert overlap.exit_code == 2 and "overlap" in overlap.output
