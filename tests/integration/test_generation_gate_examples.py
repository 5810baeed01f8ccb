"""Issue 16's examples on real files from ../shared/corpora, answered by the extractive answerer with a trained gate.

The gate is trained here on a slice of SQuAD 2.0 (articles 0 / 4, 150 questions each); the corpus is three real
files ingested with the real pipeline (embedded Qdrant, MiniLM, BM25). The same gate then decides real held-out
SQuAD 2.0 questions of article 6 (never seen in training) over that article's paragraphs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citewise.docstore import DocStore
from citewise.settings import load_settings
from evals.gate_train import load_squad, pick, squad_retriever, train_gate
from generation import Answerer
from generation.gate import ARTIFACT, EvidenceGate, GateModel
from generation.support import Scorer
from ingest.pipeline import IngestPipeline
from retrieval import Retriever
from tests.paths import CORPUS, SQUAD2, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FILES = ("norwich-city.txt", "stanley-cups.csv", "pdf/layout-parser-paper-fast.pdf")


@pytest.fixture(scope="module")
def gate_model(tmp_path_factory: pytest.TempPathFactory) -> GateModel:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("gate-train"), encoder={"backend": "torch"})
    return train_gate(require(SQUAD2), [0], [4], limit=150, settings=settings)


@pytest.fixture(scope="module")
def answerer(
    tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any, gate_model: GateModel
) -> Iterator[Answerer]:
    root = tmp_path_factory.mktemp("gate-examples")
    docs = root / "docs"
    docs.mkdir()
    for name in FILES:
        shutil.copy(require(CORPUS / name), docs / Path(name).name)
    settings = load_settings(data_dir=root / "data", encoder={"backend": "torch"})
    gate_model.save(settings.data_dir / ARTIFACT)
    from citewise.index import open_index

    index = open_index(settings)
    with IngestPipeline(
        settings, index, dense_encoder, bm25_encoder, DocStore(settings.data_dir, index.collection)
    ) as p:
        assert not p.run([docs], workers=0).failures
    retriever = Retriever(settings.retrieval, index, dense_encoder, bm25_encoder, reranker=None)
    answerer = Answerer.from_settings(settings, retriever)
    assert answerer.gate.model is not None
    yield answerer
    index.close()


def test_mercury_is_not_in_the_corpus(answerer: Answerer) -> None:
    answer = answerer.answer("What is the boiling point of mercury?")
    threshold = answerer.gate.model.threshold  # chosen on the dev article: 0.42-0.45 here
    # abstains clearly, not by a hair: p 0.29-0.31 here (nltk's / PyStemmer's Porter stems)
    assert answer.abstained and answer.answer_probability is not None
    assert answer.answer_probability < threshold - 0.1, (answer.answer_probability, threshold)


def test_iwan_roberts_source_markers_are_not_citations(answerer: Answerer) -> None:
    answer = answerer.answer("When was Iwan Roberts born?")
    assert not answer.abstained and "26 June 1968" in answer.answer
    assert answer.answer_probability is not None and answer.answer_probability > 0.5
    for c in answer.citations:  # byte-exact quotes
        assert answerer.texts is not None and answerer.texts.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote


def test_layoutparser_answer_is_not_stitched(answerer: Answerer) -> None:
    answer = answerer.answer("What is LayoutParser?")
    assert not answer.abstained and "LayoutParser" in answer.answer
    assert len({n for s in answer.sentences for n in s.citations}) == 1  # one passage, cited
    for s in answer.sentences:
        assert s.text.rstrip()[-1] in ".!?"  # whole sentences, never a fragment cut at a chunk edge
        assert s.text in answer.citations[0].quote


def test_table_answer_is_capped_to_relevant_rows(answerer: Answerer) -> None:
    # capping is the answerer's, not the gate's: asked with the gate open (the small test gate is unsure of tables)
    from generation.gate import EvidenceGate

    open_gate = Answerer(answerer.settings, answerer.retriever, answerer.texts, answerer.scorer,
                         gate=EvidenceGate(answerer.scorer, None, min_evidence=0.0))  # fmt: skip
    answer = open_gate.answer("How many Stanley Cups have the Maple Leafs won?")
    assert not answer.abstained and "Maple Leafs | TOR | 13" in answer.answer
    assert "Blues" not in answer.answer and "Flyers" not in answer.answer
    assert answer.answer.count("Maple Leafs") == 1


# held-out SQuAD 2.0 article 6 (Packet_switching): answerable questions and unanswerable ones written against the
# same paragraphs (a person added, a negation, a changed condition)
ANSWERABLE = {
    "What did Paul Baran develop": "Distributed Adaptive Message Block Switching",
    "Packet Switching contrast with what other principal": "circuit switching",
}
UNANSWERABLE = (
    "Who credited Paul Baran for his development?",
    "What was the Air Force not interested in for their message system?",
    "How are packets delivered differently?",
)


def test_squad_held_out_decisions(gate_model: GateModel, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, encoder={"backend": "torch"})
    article = pick(load_squad(require(SQUAD2)), [6], "article")
    with squad_retriever(article, settings) as retriever:
        scorer = Scorer(retriever.dense)
        answerer = Answerer(settings.generation, retriever, None, scorer, gate=EvidenceGate(scorer, gate_model))
        answered = {q: answerer.answer(q, k=5) for q in ANSWERABLE}
        abstained = {q: answerer.answer(q, k=5) for q in UNANSWERABLE}
    for q, gold in ANSWERABLE.items():
        assert not answered[q].abstained and gold.lower() in answered[q].answer.lower(), q
    for q, answer in abstained.items():
        assert answer.abstained, q
    lowest = min(a.answer_probability or 0.0 for a in answered.values())
    assert lowest > max(a.answer_probability or 1.0 for a in abstained.values())
