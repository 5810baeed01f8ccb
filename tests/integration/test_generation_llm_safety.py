"""What reaches a real LLM server and what comes back: SmolLM2-135M-Instruct behind llama_cpp.server.

A recording proxy sits between the provider and the server, so the tests see the exact request bodies the
server received. Checked: passages go as number + name + text only (no paths, tenant, ACL groups, ids,
keys); the answer carries no echoed fence, header or placeholder; in ``remove`` mode every shown sentence is
supported and relevant; a model answer with nothing usable falls back to the extractive one; the stream's
``done`` event carries the verified answer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from citewise.settings import GenerationSettings
from citewise.types import Answer
from generation import Answerer
from generation.support import Scorer
from tests.generation_support import SECRET_PATH, ListRetriever, TextStore, secret_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEAK = re.compile(r"<<|>>|‹‹|SOURCE-[0-9a-f]{4}|\[n\]|/srv/")


class RecordingProxy:
    """Forwards POSTs to ``upstream`` unchanged (streamed or not) and keeps each request body."""

    def __init__(self, upstream: str) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(json.loads(raw))
                url = upstream + self.path.removeprefix("/v1")
                headers = {"Content-Type": "application/json"}
                with httpx.stream("POST", url, content=raw, headers=headers, timeout=300) as r:
                    self.send_response(r.status_code)
                    self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
                    self.end_headers()
                    for chunk in r.iter_raw():
                        self.wfile.write(chunk)
                        self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def proxy(llm_server: str) -> Iterator[RecordingProxy]:
    p = RecordingProxy(llm_server)
    yield p
    p.close()


@pytest.fixture(scope="module")
def corpus() -> tuple[ListRetriever, TextStore]:
    return secret_corpus()


def answerer_for(
    settings: GenerationSettings, proxy: RecordingProxy, corpus: Any, dense: Any, **extra: Any
) -> Answerer:
    retriever, store = corpus
    cfg = settings.model_copy(update={"base_url": proxy.base_url, "api_key": SecretStr("sk-test-secret-key"), **extra})
    return Answerer(cfg, retriever, store, Scorer(dense))


def check_shown(answer: Answer, store: TextStore) -> None:
    assert not LEAK.search(answer.answer), answer.answer
    for s in answer.sentences:
        if s.shown:
            assert s.supported and not s.reason, s
    for c in answer.citations:
        assert store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote


def test_provider_receives_number_name_and_text_only(
    llm_generation_settings: GenerationSettings, proxy: RecordingProxy, corpus: Any, dense_encoder: Any
) -> None:
    answer = answerer_for(llm_generation_settings, proxy, corpus, dense_encoder).answer(
        "What is Normandy named after?", k=2
    )
    body = proxy.bodies[-1]
    sent = json.dumps(body)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    chunk = corpus[0].chunks[0]
    for secret in (SECRET_PATH, "acme", "hr-secret", "sk-test-secret-key", chunk.id, chunk.doc_id + ".txt/"):
        assert secret not in sent, secret
    user = body["messages"][1]["content"]
    assert re.search(r"^\[1\] Normans-\d\.txt$", user, re.MULTILINE), user  # the file name, not its folder
    check_shown(answer, corpus[1])
    assert answer.model in ("openai-like:smollm2-135m-instruct", "extractive")


def test_remove_mode_shows_only_supported_relevant_sentences(
    llm_generation_settings: GenerationSettings, proxy: RecordingProxy, corpus: Any, dense_encoder: Any
) -> None:
    answerer = answerer_for(llm_generation_settings, proxy, corpus, dense_encoder, max_tokens=120)
    answer = answerer.answer("Who were the Normans?", k=2)
    assert not answer.abstained
    check_shown(answer, corpus[1])
    assert len([s for s in answer.sentences if s.shown]) <= 3


def test_unusable_model_answer_falls_back_to_extractive(
    llm_generation_settings: GenerationSettings, proxy: RecordingProxy, corpus: Any, dense_encoder: Any
) -> None:
    # a support bar only verbatim passage sentences reach: whatever the model writes in its own words fails it
    answerer = answerer_for(llm_generation_settings, proxy, corpus, dense_encoder, min_support=0.99)
    answer = answerer.answer("Who was the Norse leader?", k=2)
    assert answer.model == "extractive" and answer.fallback_from == "openai-like:smollm2-135m-instruct"
    assert "Rollo" in answer.answer and answer.citations
    check_shown(answer, corpus[1])


def test_stream_done_event_carries_the_verified_answer(
    llm_generation_settings: GenerationSettings, proxy: RecordingProxy, corpus: Any, dense_encoder: Any
) -> None:
    answerer = answerer_for(llm_generation_settings, proxy, corpus, dense_encoder)
    events = list(answerer.stream("Who were the Normans?", k=2))
    assert [e.kind for e in events][-2:] == ["citations", "done"]
    assert proxy.bodies[-1].get("stream") is True
    done = events[-1].data
    check_shown(done, corpus[1])
    raw = "".join(e.data for e in events if e.kind == "token")
    for s in done.sentences:
        if not s.shown:
            assert s.text not in done.answer  # in the raw stream perhaps; never in the verified answer
    assert raw and done.answer != "" and "first_token" in done.timings_ms
