"""QA loaders (JSONL, SQuAD 2.0) and our own answer metrics on hand-built answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citewise.errors import InvalidRequest
from citewise.types import Answer, AnswerSentence, Citation
from evals.answer_metrics import contains, mean_scores, normalize, score_answer, support, token_f1
from evals.qa import QAItem, load_qa
from tests.paths import SQUAD2, require

DOC = "The Normans gave their name to Normandy, a region in France. They came from Norse raiders."


def _answer(text: str, sentences: list[tuple[str, tuple[int, ...]]], citations: list[Citation], abstained=False):  # type: ignore[no-untyped-def]
    return Answer(
        answer=text,
        abstained=abstained,
        citations=tuple(citations),
        sentences=tuple(AnswerSentence(s, True, c) for s, c in sentences),
        prompt="p",
        model="m",
    )


def _cite(n: int, start: int, end: int, quote: str | None = None) -> Citation:
    return Citation(n, "d1", "c1", "src", "Normans", None, start, end, DOC[start:end] if quote is None else quote)


def test_squad_normalization_f1_and_containment() -> None:
    assert normalize("The  Eiffel-Tower!") == "eiffeltower"
    assert token_f1("in France", "France") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    assert contains("It is located in France.", "france") and not contains("Francesca", "France")


def test_support_is_content_word_overlap() -> None:
    assert support("Normandy is in France.", DOC) == 1.0
    assert support("Normandy is in Spain.", DOC) == 0.5
    assert support("It is.", "anything") == 1.0


def test_score_answer_citations_and_references() -> None:
    item = QAItem("q", "Where is Normandy?", ("France",), (DOC,), True)
    good = _cite(1, 0, 61)
    forged = _cite(2, 62, 90, quote="They came from Viking lands.")
    answer = _answer(
        "Normandy is in France. They came from Norse raiders.",
        [("Normandy is in France.", (1,)), ("They came from Norse raiders.", (2,))],
        [good, forged],
    )
    result = score_answer(item, answer, lambda doc_id: DOC if doc_id == "d1" else None)
    assert result.scores["exact_quote"] == 0.5  # the forged quote is not the source span
    assert result.scores["citation_precision"] == 0.5  # "norse raiders" is not in the forged quote
    assert result.scores["containment"] == 1.0 and result.scores["answered"] == 1.0
    assert 0 < result.scores["token_f1"] < 1
    assert [c["exact"] for c in result.citation_checks] == [True, False]


def test_abstention_scoring() -> None:
    unanswerable = QAItem("q", "Who?", (), (), answerable=False)
    declined = _answer("I cannot answer from the documents.", [], [], abstained=True)
    assert score_answer(unanswerable, declined, lambda _: None).scores == {"abstention_accuracy": 1.0}
    answerable = QAItem("q", "Where?", ("France",))
    scores = score_answer(answerable, declined, lambda _: None).scores
    assert scores == {"answered": 0.0, "containment": 0.0, "token_f1": 0.0}
    assert mean_scores([{"a": 1.0}, {"a": 0.0, "b": 1.0}]) == {"a": 0.5, "b": 1.0}


def test_jsonl_loader(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    rows = [
        {"question": "Where is Normandy?", "reference": "France", "reference_contexts": [DOC]},
        {"id": "x", "question": "Who is the king of Mars?", "answerable": False},
        {"question": "Plain?"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    qa = load_qa(path)
    assert [q.qid for q in qa.items] == ["1", "x", "3"]
    assert qa.items[0].reference == "France" and qa.items[0].reference_contexts == (DOC,)
    assert not qa.items[1].answerable and qa.items[2].reference is None and qa.documents == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"reference": "x"}\n', 'needs a non-empty "question"'),
        ("{oops\n", "not valid JSON"),
        ('{"question": "q"}\n["a list"]\n', r"qa.jsonl:2 is not a JSON object"),
        ('{"question": "q", "reference": 3}\n', "must be a string or a list"),
        ("\n", "holds no questions"),
    ],
)
def test_bad_jsonl(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidRequest, match=message):
        load_qa(path)


def test_bad_qa_paths(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="QA file not found"):
        load_qa(tmp_path / "none.jsonl")
    other = tmp_path / "x.json"
    other.write_text("[1, 2]")
    with pytest.raises(InvalidRequest, match="neither JSONL"):
        load_qa(other)


def test_squad2_loader_on_the_real_file() -> None:
    qa = load_qa(require(SQUAD2))
    assert len(qa.documents) == 294 and len(qa.items) == 2805
    unanswerable = [q for q in qa.items if not q.answerable]
    assert len(unanswerable) == 1527  # the datasets README says 1519; the file has 1527
    assert all(not q.references for q in unanswerable)
    first = qa.items[0]
    assert first.question == "In what country is Normandy located?" and first.references == ("France",)
    assert first.reference_contexts[0] in {d.text for d in qa.documents}
    sample = qa.sample(40)
    assert len(sample.items) == 40 and sample.items == qa.sample(40).items
    assert 0 < sum(q.answerable for q in sample.items) < 40
    with pytest.raises(InvalidRequest, match="at least 1"):
        qa.sample(0)


def test_judge_response_format_is_the_schema_the_ragas_prompt_states() -> None:
    """RAGAS' own prompt text carries the output schema; the judge is asked for it (lists never empty)."""
    from ragas.metrics._faithfulness import StatementGeneratorInput, StatementGeneratorPrompt

    from evals.ragas_eval import response_format

    prompt = StatementGeneratorPrompt().to_string(StatementGeneratorInput(question="Q?", answer="A."))
    wanted = response_format(prompt, "json_object")
    assert wanted is not None and wanted["type"] == "json_object"
    statements = wanted["schema"]["properties"]["statements"]
    assert statements["type"] == "array" and (statements["minItems"], statements["maxItems"]) == (1, 6)
    assert statements["items"] == {"type": "string", "maxLength": 300}
    openai_form = response_format(prompt, "json_schema")
    assert openai_form is not None and openai_form["json_schema"]["schema"] == wanted["schema"]
    assert response_format(prompt, "none") is None and response_format("no schema here", "json_schema") is None

    from ragas.metrics._faithfulness import NLIStatementInput, NLIStatementPrompt

    nli = NLIStatementPrompt().to_string(NLIStatementInput(context="C.", statements=["S."]))
    verdicts = response_format(nli, "json_object")
    assert verdicts is not None and "$defs" not in json.dumps(verdicts)  # nested models inlined
    item = verdicts["schema"]["properties"]["statements"]["items"]
    assert set(item["properties"]) == {"statement", "reason", "verdict"}
