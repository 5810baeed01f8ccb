"""Providers: settings checks name the variable to fix; the OpenAI-compatible client against a scripted server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from citewise.errors import ConfigError, GenerationError, UpstreamTimeout
from citewise.settings import GenerationSettings
from generation import Answerer
from generation.prompts import Messages
from generation.providers import build_chat_model, parse_llm_name, translate_error
from generation.support import Scorer
from tests.generation_support import ListRetriever, ScriptedOpenAIServer, TextStore, chunks_of, squad_paragraphs

MESSAGES = Messages(system="Be brief.", user="Say hi.")


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedOpenAIServer]:
    srv = ScriptedOpenAIServer()
    yield srv
    srv.close()


@pytest.fixture()
def scripted(server: ScriptedOpenAIServer) -> Iterator[ScriptedOpenAIServer]:
    server.reply, server.delay_s, server.status = "ok", 0.0, 200
    yield server


def settings_for(url: str, **extra: Any) -> GenerationSettings:
    values: dict[str, Any] = {"llm": "openai-like", "model": "scripted", "base_url": url, "retries": 0, "timeout_s": 5}
    return GenerationSettings(**(values | extra))


def test_extractive_needs_no_model() -> None:
    assert build_chat_model(GenerationSettings()) is None


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"llm": "openai", "model": "gpt-4o-mini"}, "CITEWISE_GENERATION__API_KEY"),
        ({"llm": "anthropic", "model": "claude-3-5-haiku-latest"}, "CITEWISE_GENERATION__API_KEY"),
        ({"llm": "openai-like", "model": "m"}, "CITEWISE_GENERATION__BASE_URL"),
        ({"llm": "ollama"}, "CITEWISE_GENERATION__MODEL"),
        ({"llm": "gpt5000"}, "CITEWISE_GENERATION__LLM"),
    ],
)
def test_missing_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, values: dict, variable: str) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=variable):
        build_chat_model(GenerationSettings(**values))


@pytest.mark.slow  # imports the openai, anthropic and ollama SDKs
def test_each_provider_builds_from_settings() -> None:
    for name in ("openai", "anthropic", "ollama", "openai-like"):
        chat = build_chat_model(
            GenerationSettings(llm=name, model="m1", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
        )
        assert chat is not None and chat.provider == name and chat.model == "m1"
    assert parse_llm_name("Ollama:llama3.2") == ("ollama", "llama3.2")
    assert parse_llm_name("openai-compatible") == ("openai-like", None)


def test_unreachable_server_names_the_base_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    chat = build_chat_model(settings_for(f"http://127.0.0.1:{port}/v1"))
    assert chat is not None
    with pytest.raises(GenerationError, match="CITEWISE_GENERATION__BASE_URL"):
        chat.complete(MESSAGES)


def test_slow_server_is_an_upstream_timeout(scripted: ScriptedOpenAIServer) -> None:
    scripted.delay_s = 2.0
    chat = build_chat_model(settings_for(scripted.base_url, timeout_s=0.5))
    assert chat is not None
    with pytest.raises(UpstreamTimeout, match="CITEWISE_GENERATION__TIMEOUT_S"):
        chat.complete(MESSAGES)


def test_rejected_key_names_the_key_setting(scripted: ScriptedOpenAIServer) -> None:
    scripted.status = 401
    chat = build_chat_model(settings_for(scripted.base_url))
    assert chat is not None
    with pytest.raises(GenerationError, match="CITEWISE_GENERATION__API_KEY"):
        chat.complete(MESSAGES)


def test_completion_and_stream_carry_usage(scripted: ScriptedOpenAIServer) -> None:
    scripted.reply = "Hello there friend."
    chat = build_chat_model(settings_for(scripted.base_url, temperature=0.3, max_tokens=33))
    assert chat is not None
    done = chat.complete(MESSAGES)
    assert (done.text, done.prompt_tokens, done.completion_tokens) == ("Hello there friend.", 42, 7)
    request = scripted.requests[-1]
    assert request["temperature"] == 0.3 and request["max_tokens"] == 33 and request["model"] == "scripted"
    deltas = list(chat.stream(MESSAGES))
    assert "".join(d.text for d in deltas) == "Hello there friend."


def test_malformed_citation_from_the_server_is_dropped(scripted: ScriptedOpenAIServer) -> None:
    paragraphs = squad_paragraphs(4)
    retriever = ListRetriever([c for d, t, _ in paragraphs for c in chunks_of(d, t, size=300)])
    store = TextStore({d: t for d, t, _ in paragraphs})
    scripted.reply = "Normandy is a region in France [99]. The Normans came from Norse raiders [1][7]."
    answerer = Answerer(settings_for(scripted.base_url, prices={"scripted": (1.0, 2.0)}), retriever, store, Scorer())
    answer = answerer.answer("Who were the Normans and where is Normandy?", k=3)
    assert "[99]" not in answer.answer and "[7]" not in answer.answer
    assert {c.n for c in answer.citations} <= {1, 2, 3}
    assert all(s.supported for s in answer.sentences)
    assert answer.usage.prompt_tokens == 42 and not answer.usage.estimated
    assert answer.usage.cost_usd == pytest.approx((42 * 1.0 + 7 * 2.0) / 1e6)
    assert answer.model == "openai-like:scripted"
    for c in answer.citations:
        assert store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote


def test_rate_limit_and_server_errors_are_told_apart_by_status(scripted: ScriptedOpenAIServer) -> None:
    chat = build_chat_model(settings_for(scripted.base_url))
    assert chat is not None
    scripted.status = 429
    with pytest.raises(GenerationError, match=r"rate-limiting .*\(429\).*CITEWISE_GENERATION__RETRIES"):
        chat.complete(MESSAGES)
    scripted.status = 503
    with pytest.raises(GenerationError, match=r"server error \(503\)"):
        chat.complete(MESSAGES)


def _http_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:9/api/chat")
    return httpx.HTTPStatusError("scripted", request=request, response=httpx.Response(status, request=request))


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (_http_error(401), GenerationError, "CITEWISE_GENERATION__API_KEY"),  # a plain httpx status error
        (_http_error(404), GenerationError, "CITEWISE_GENERATION__MODEL"),
        (_http_error(504), UpstreamTimeout, "CITEWISE_GENERATION__TIMEOUT_S"),
        (httpx.ReadTimeout("slow"), UpstreamTimeout, "CITEWISE_GENERATION__TIMEOUT_S"),
        (httpx.ConnectError("refused"), GenerationError, "CITEWISE_GENERATION__BASE_URL"),
    ],
)
def test_errors_are_mapped_by_type_and_status(exc: Exception, kind: type[Exception], words: str) -> None:
    error = translate_error(exc, "ollama", "http://127.0.0.1:9", 5.0)
    assert type(error) is kind and words in str(error)


def test_a_class_that_only_shares_a_name_is_not_mistaken_for_a_transport_error() -> None:
    ConnectError = type("ConnectError", (Exception,), {})  # e.g. some library's own, unrelated error
    TimeoutException = type("TimeoutException", (Exception,), {})
    for fake in (ConnectError("db"), TimeoutException("lock")):
        error = translate_error(fake, "ollama", "http://127.0.0.1:9", 5.0)
        assert type(error) is GenerationError and "ollama failed" in str(error)


PLUGIN = """
from generation.llm_registry import Provider


def build(settings, model, key):
    from llama_index.llms.openai_like import OpenAILike

    url = settings.base_url
    return OpenAILike(model=model, api_base=url, api_key="no-key", is_chat_model=True, max_retries=0), url


def register(register_provider):
    register_provider(Provider("scripted-plugin", build, aliases=("scripted",)))
"""


@pytest.fixture()
def plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed package (a dist-info with an entry point on sys.path) that adds the ``scripted-plugin``
    provider and one whose entry point is broken; the registry forgets them afterwards."""
    from generation import llm_registry

    (tmp_path / "citewise_scripted_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "citewise_scripted_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: citewise-scripted-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{llm_registry.ENTRY_POINTS}]\n"
        "scripted = citewise_scripted_plugin:register\n"
        "broken = citewise_scripted_plugin:no_such_function\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(llm_registry, "_providers", dict(llm_registry._providers))
    monkeypatch.setattr(llm_registry, "_names", dict(llm_registry._names))
    monkeypatch.setattr(llm_registry, "_plugins_loaded", False)
    return tmp_path


def test_an_installed_plugin_adds_a_provider(plugin_installed: Path, scripted: ScriptedOpenAIServer) -> None:
    from generation.llm_registry import provider_names

    assert provider_names() == ("extractive", "openai", "openai-like", "ollama", "anthropic", "scripted-plugin")
    scripted.reply = "From the plugin."
    chat = build_chat_model(settings_for(scripted.base_url, llm="scripted:m1"))  # by its alias
    assert chat is not None and (chat.provider, chat.model) == ("scripted-plugin", "m1")
    assert chat.complete(MESSAGES).text == "From the plugin."
    with pytest.raises(ConfigError, match="scripted-plugin"):  # the error lists what is installed
        parse_llm_name("gpt5000")


def test_a_provider_name_cannot_be_taken_twice() -> None:
    from generation.llm_registry import Provider, register_provider

    for name in ("openai", "extractive", "openai-compatible", "Bad Name"):
        with pytest.raises(ValueError, match=repr(name)):
            register_provider(Provider(name, lambda settings, model, key: (None, "")))
