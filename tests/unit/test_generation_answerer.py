"""The Answerer on real SQuAD paragraphs with a list retriever and scripted models (lexical scores only).

The same behaviour runs with the real MiniLM encoder, index and LLM server in tests/integration.
"""

from __future__ import annotations

from typing import Any

import pytest

from citewise.errors import InvalidRequest
from citewise.settings import GenerationSettings
from citewise.types import Answer
from generation import Answerer, StreamEvent, answer_json
from generation.support import Scorer
from tests.generation_support import ListRetriever, ScriptedChat, TextStore, chunks_of, squad_paragraphs


@pytest.fixture(scope="module")
def corpus() -> tuple[ListRetriever, TextStore]:
    paragraphs = squad_paragraphs(6)
    chunks = [c for doc_id, text, _ in paragraphs for c in chunks_of(doc_id, text, size=300)]
    return ListRetriever(chunks), TextStore({doc_id: text for doc_id, text, _ in paragraphs})


def make(corpus: Any, reply: str | None = None, **settings: Any) -> Answerer:
    retriever, store = corpus
    chat = ScriptedChat(reply) if reply is not None else None
    values = {"min_evidence": 0.2} | settings  # lexical scores only here: a lower gate than with MiniLM
    return Answerer(GenerationSettings(**values), retriever, store, Scorer(), chat_factory=lambda _s, _name: chat)


def assert_quotes_exact(answer: Answer, store: TextStore) -> None:
    for c in answer.citations:
        assert store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote
        assert c.quote


def test_extractive_answer_quotes_the_matching_sentence(corpus: Any) -> None:
    answer = make(corpus).answer("Normandy is a region in which country?", k=3)
    assert not answer.abstained
    assert "France" in answer.answer
    assert answer.sentences[0].supported and answer.sentences[0].citations
    assert answer.prompt == "extractive@2" and len(answer.prompt_hash) == 64 and answer.model == "extractive"
    assert_quotes_exact(answer, corpus[1])
    # a sentence, not the whole chunk
    assert all(len(c.quote) < 300 for c in answer.citations)
    assert {"retrieve", "evidence", "generate", "verify", "total"} <= set(answer.timings_ms)


def test_retrieval_mode_and_k_reach_the_retriever(corpus: Any) -> None:
    retriever = corpus[0]
    make(corpus).answer("Normandy is a region in which country?", k=2, mode="sparse")
    events = list(make(corpus).stream("Normandy is a region in which country?", k=3, mode="dense"))
    assert events[-1].kind == "done" and retriever.modes[-2:] == ["sparse", "dense"]
    assert [k for _q, k, _f in retriever.calls[-2:]] == [2, 3]
    make(corpus).answer("Normandy is a region in which country?")
    assert retriever.modes[-1] is None  # the settings' mode


def test_extractive_answer_is_deterministic(corpus: Any) -> None:
    a = make(corpus).answer("When were the Normans in Normandy?", k=4)
    b = make(corpus).answer("When were the Normans in Normandy?", k=4)
    assert answer_json(a) | {"answer_id": "", "timings_ms": {}} == answer_json(b) | {"answer_id": "", "timings_ms": {}}


def test_weak_evidence_abstains_and_lists_closest_sources(corpus: Any) -> None:
    answer = make(corpus).answer("What is the boiling point of liquid helium in kelvin?", k=3)
    assert answer.abstained
    assert answer.answer.startswith("The documents do not contain")
    assert answer.citations and "Closest sources: [" in answer.answer
    assert answer.sentences == ()
    assert_quotes_exact(answer, corpus[1])


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("Wie hoch ist der Siedepunkt von flüssigem Helium in Kelvin?", "Die Dokumente enthalten keine Antwort"),
        ("Какова температура кипения жидкого гелия в кельвинах?", "В документах нет ответа"),
        ("液态氦的沸点是多少开尔文？", "文档中没有这个问题的答案"),
        ("ما هي درجة غليان الهيليوم السائل بالكلفن؟", "لا تحتوي المستندات على إجابة"),
    ],
)
def test_abstention_speaks_the_questions_language(corpus: Any, question: str, says: str) -> None:
    answer = make(corpus).answer(question, k=3)
    assert answer.abstained and answer.answer.startswith(says), answer.answer
    assert "The documents do not contain" not in answer.answer


def test_a_sentence_that_adds_a_name_its_passage_never_writes_is_unsupported(corpus: Any) -> None:
    # the held-out SmolLM case: the passage's words plus one invented entity ("… connected to the Liberal Party")
    reply = "The Normans were descended from Norse raiders [1]. Rollo was a leader of the Liberal Party [1]."
    answer = make(corpus, reply, unsupported="flag").answer("Who were the Normans?", k=3)
    assert [s.supported for s in answer.sentences] == [True, False], answer.sentences
    assert answer.sentences[1].reason == "unsupported"


def test_citation_to_a_missing_source_is_dropped(corpus: Any) -> None:
    reply = "The Normans gave their name to Normandy, a region in France [99]."
    answer = make(corpus, reply).answer("What is Normandy named after?", k=3)
    assert not answer.abstained
    assert "[99]" not in answer.answer
    assert all(c.n != 99 for c in answer.citations)
    sentence = answer.sentences[0]
    assert sentence.supported and sentence.citations  # re-attached to the passage that supports it
    assert answer.model == "scripted:scripted-1" and answer.prompt == "answer@2"
    assert_quotes_exact(answer, corpus[1])


def test_invented_sentence_is_flagged_or_removed(corpus: Any) -> None:
    reply = (
        "The Normans were descended from Norse raiders [1]. "
        "They built the first submarine in 1492 to invade Australia [1]."
    )
    flagged = make(corpus, reply, unsupported="flag").answer("Who were the Normans?", k=3)
    assert [s.supported for s in flagged.sentences] == [True, False]
    assert [s.shown for s in flagged.sentences] == [True, True] and flagged.sentences[1].reason == "unsupported"
    assert "submarine" in flagged.answer
    removed = make(corpus, reply).answer("Who were the Normans?", k=3)  # remove is the default
    assert [(s.supported, s.shown, s.reason) for s in removed.sentences] == [
        (True, True, ""),
        (False, False, "unsupported"),
    ]
    assert "submarine" not in removed.answer and "Norse" in removed.answer


def test_supported_sentence_off_the_question_is_removed(corpus: Any) -> None:
    # both are in the passages; only the first says which country (the Harvard Stadium / Regatta case)
    reply = "Normandy is a region in France [1]. Rollo was a famed Viking ruler [3]."
    answer = make(corpus, reply).answer("Normandy is a region in which country?", k=3)
    off = [s for s in answer.sentences if s.reason == "off_question"]
    assert [s.text for s in off] == ["Rollo was a famed Viking ruler."], answer.sentences
    assert off[0].supported and not off[0].shown and "Rollo" not in answer.answer and "France" in answer.answer
    assert all(s.relevance is not None for s in answer.sentences)


def test_nothing_supported_falls_back_to_the_extractive_answer_and_keeps_usage(corpus: Any) -> None:
    reply = "Bananas are a good source of potassium and grow in Ecuador [1]."
    answer = make(corpus, reply).answer("Who were the Normans?", k=3)
    assert not answer.abstained and answer.model == "extractive" and answer.fallback_from == "scripted:scripted-1"
    assert answer.prompt == "extractive@2" and "Bananas" not in answer.answer and "Norm" in answer.answer
    assert answer.usage.prompt_tokens == 100 and answer.usage.completion_tokens == 20
    rejected = [s for s in answer.sentences if not s.shown]
    assert [s.reason for s in rejected] == ["unsupported"] and "Bananas" in rejected[0].text
    assert_quotes_exact(answer, corpus[1])
    data = answer_json(answer)
    assert data["fallback_from"] == "scripted:scripted-1" and data["sentences"][-1]["reason"] == "unsupported"


def test_nothing_supported_abstains_when_fallback_is_abstain(corpus: Any) -> None:
    reply = "Bananas are a good source of potassium and grow in Ecuador [1]."
    answer = make(corpus, reply, fallback="abstain").answer("Who were the Normans?", k=3)
    assert answer.abstained and answer.fallback_from == "" and answer.usage.prompt_tokens == 100


def test_repair_round_reasks_naming_the_rejected_sentences(corpus: Any) -> None:
    answerer = make(corpus, "Bananas grow in Ecuador [1].", repair=True)
    answer = answerer.answer("Who were the Normans?", k=3)
    chat = answerer.default_chat
    assert isinstance(chat, ScriptedChat) and len(chat.seen) == 2
    assert "- Bananas grow in Ecuador." in chat.seen[1].user and chat.seen[1].user.startswith(chat.seen[0].user)
    assert answer.fallback_from and answer.usage.prompt_tokens == 200 and "repair" in answer.timings_ms


def test_passages_reach_the_model_fenced(corpus: Any) -> None:
    answerer = make(corpus, "The Normans were from Normandy [1].")
    answerer.answer("Who were the Normans?", k=4)  # chunks of one paragraph grow into one passage
    chat = answerer.default_chat
    assert isinstance(chat, ScriptedChat)
    user = chat.seen[-1].user
    assert "[1]" in user and "[2]" in user and "<<SOURCE-" in user


def test_stream_yields_tokens_then_citations_then_done(corpus: Any) -> None:
    events = list(make(corpus, "The Normans came from Normandy in France [1].").stream("Who were the Normans?", k=3))
    kinds = [e.kind for e in events]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"}
    assert "".join(e.data for e in events[:-2]).strip() == "The Normans came from Normandy in France [1]."
    done = events[-1].data
    assert isinstance(done, Answer) and events[-2].data == done.citations
    assert isinstance(events[0], StreamEvent)


def test_extractive_stream_matches_answer(corpus: Any) -> None:
    answerer = make(corpus)
    events = list(answerer.stream("Normandy is a region in which country?", k=3))
    assert "".join(e.data for e in events if e.kind == "token") == events[-1].data.answer


def test_llm_failure_midway_is_an_error_event(corpus: Any) -> None:
    from citewise.errors import UpstreamTimeout

    class Failing(ScriptedChat):
        def stream(self, messages: Any) -> Any:
            yield from ()
            raise UpstreamTimeout("scripted timeout (CITEWISE_GENERATION__TIMEOUT_S)")

        def complete(self, messages: Any) -> Any:
            raise UpstreamTimeout("scripted timeout (CITEWISE_GENERATION__TIMEOUT_S)")

    retriever, store = corpus
    chat = Failing("unused")
    answerer = Answerer(GenerationSettings(), retriever, store, Scorer(), chat_factory=lambda _s, _n: chat)
    events = list(answerer.stream("Who were the Normans?", k=2))
    assert [e.kind for e in events] == ["error"]
    assert events[0].data["code"] == "upstream_timeout" and events[0].data["status"] == 504
    with pytest.raises(UpstreamTimeout):
        answerer.answer("Who were the Normans?", k=2)


@pytest.mark.parametrize(("question", "k"), [("", 3), ("   ", 3), ("x" * 5000, 3), ("ok?", 0), ("ok?", 51)])
def test_bad_input_is_rejected_before_streaming(corpus: Any, question: str, k: int) -> None:
    with pytest.raises(InvalidRequest):
        make(corpus).stream(question, k=k)


def test_unknown_prompt_is_rejected(corpus: Any) -> None:
    with pytest.raises(InvalidRequest, match="unknown prompt"):
        make(corpus, "x [1].").answer("Who were the Normans?", prompt="nope@3")


def test_answer_json_has_the_public_fields(corpus: Any) -> None:
    data = answer_json(make(corpus).answer("Normandy is a region in which country?", k=3))
    assert set(data) >= {
        "answer",
        "abstained",
        "citations",
        "sentences",
        "prompt",
        "prompt_hash",
        "model",
        "usage",
        "timings_ms",
        "answer_id",
    }
    assert set(data["citations"][0]) >= {"n", "doc_id", "source", "title", "page", "char_start", "char_end", "quote"}
    assert set(data["sentences"][0]) >= {"text", "supported", "citations"}
