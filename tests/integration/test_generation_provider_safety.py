"""The OpenAI-compatible provider against a scripted HTTP server: exact request bodies, and replies a real
small model produces only sometimes (echoed fences and headers, placeholders, unsupported text), on demand.

The same points run against the real SmolLM2 server in test_generation_llm_safety.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from citewise.settings import GenerationSettings
from generation import Answerer
from generation.support import Scorer
from tests.generation_support import ListRetriever, ScriptedOpenAIServer, TextStore, chunks_of, squad_paragraphs

pytestmark = pytest.mark.integration

SECRET_PATH = "/srv/citewise/tenant-acme/private/"


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedOpenAIServer]:
    s = ScriptedOpenAIServer()
    yield s
    s.close()


@pytest.fixture(scope="module")
def corpus() -> tuple[ListRetriever, TextStore]:
    paragraphs = squad_paragraphs(4)
    chunks = [
        replace(c, tenant="acme", acl=("hr-secret",), title="")
        for d, t, _ in paragraphs
        for c in chunks_of(d, t, size=300, prefix=SECRET_PATH)
    ]
    return ListRetriever(chunks), TextStore({d: t for d, t, _ in paragraphs})


def answerer(server: ScriptedOpenAIServer, corpus: Any, **extra: Any) -> Answerer:
    settings = GenerationSettings(
        llm="openai-like",
        model="scripted",
        base_url=server.base_url,
        api_key="sk-test-secret-key",
        retries=0,
        min_evidence=0.2,  # lexical scores only here
        **extra,
    )
    return Answerer(settings, corpus[0], corpus[1], Scorer())


def test_request_body_holds_number_name_and_text_only(server: ScriptedOpenAIServer, corpus: Any) -> None:
    server.reply = "Normandy is named after the Normans [1]."
    answerer(server, corpus).answer("What is Normandy named after?", k=3)
    sent = json.dumps(server.requests[-1])
    chunk = corpus[0].chunks[0]
    for secret in (SECRET_PATH, "tenant-acme", "hr-secret", "sk-test-secret-key", chunk.id, '"acme"'):
        assert secret not in sent, secret
    user = server.requests[-1]["messages"][-1]["content"]
    assert "[1] Normans-0.txt\n<<SOURCE-" in user


def test_echoed_prompt_parts_never_reach_the_answer(server: ScriptedOpenAIServer, corpus: Any) -> None:
    server.reply = (
        "[1] Normans-0.txt <<SOURCE-0123456789 1>> The answer is [n]. "
        "The Normans gave their name to Normandy, a region in France [1]. <</SOURCE-0123456789 1>> "
        "Question: What is Normandy named after?"
    )
    answer = answerer(server, corpus).answer("What is Normandy named after?", k=3)
    assert answer.answer.startswith("The Normans gave their name to Normandy") and answer.model.startswith("openai")
    for bad in ("<<", ">>", "SOURCE-", "[n]", "Question:", ".txt"):
        assert bad not in answer.answer


def test_unsupported_reply_falls_back_and_the_stream_ends_with_the_verified_answer(
    server: ScriptedOpenAIServer, corpus: Any
) -> None:
    server.reply = "Bananas grow in Ecuador and Costa Rica [1]."
    events = list(answerer(server, corpus).stream("Normandy is a region in which country?", k=3))
    raw = "".join(e.data for e in events if e.kind == "token")
    done = events[-1].data
    assert "Bananas" in raw and "Bananas" not in done.answer and "France" in done.answer
    assert done.model == "extractive" and done.fallback_from == "openai-like:scripted"
    assert [s.reason for s in done.sentences if not s.shown] == ["unsupported"]


def test_abstention_names_sources_without_their_paths(server: ScriptedOpenAIServer, corpus: Any) -> None:
    answer = answerer(server, corpus).answer("What is the boiling point of liquid helium in kelvin?", k=3)
    assert answer.abstained and "Closest sources: [1] Normans-" in answer.answer and "/srv/" not in answer.answer


def test_cli_stream_leaves_only_the_verified_answer(server: ScriptedOpenAIServer, corpus: Any) -> None:
    from citewise.commands.ask import as_pairs, show_stream
    from citewise.commands.common import console

    server.reply = "Bananas grow in Ecuador and Costa Rica [1]."
    events = answerer(server, corpus).stream("Normandy is a region in which country?", k=3)
    with console.capture() as captured:
        answer = show_stream(as_pairs(events))
    assert "Bananas" not in captured.get() and answer["fallback_from"] and "Bananas" not in answer["answer"]
