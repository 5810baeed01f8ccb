"""LLM providers through llama-index LLM classes, configured from ``GenerationSettings``.

Names: ``openai`` (api.openai.com, key required), ``openai-like`` (any OpenAI-compatible server: vLLM,
llama.cpp, LM Studio, Ollama's /v1; ``base_url`` required), ``ollama`` (Ollama's native API) and
``anthropic`` (key required). ``extractive`` needs no LLM. A name may carry a model: ``ollama:llama3.2``.
Each is a ``Provider`` in ``generation.llm_registry``; installed packages may add more (entry points).

Errors say which setting to fix: a missing key or model is a ``ConfigError``; an unreachable server or a
rejected key is a ``GenerationError``; no answer in ``timeout_s`` is an ``UpstreamTimeout``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from citewise.errors import ConfigError, GenerationError, UpstreamTimeout
from citewise.settings import GenerationSettings
from generation.llm_registry import NO_LLM, Provider, find_provider, provider_names, register_provider
from generation.prompts import Messages

OPENAI_URL = "https://api.openai.com/v1"
OLLAMA_URL = "http://localhost:11434"
ANTHROPIC_URL = "https://api.anthropic.com"
VAR = "CITEWISE_GENERATION__"


@dataclass(frozen=True)
class Delta:
    """A piece of streamed text; the last one may carry the token counts the provider reported."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ChatModel(Protocol):
    """What the answerer needs from an LLM."""

    provider: str
    model: str

    def complete(self, messages: Messages) -> Completion: ...

    def stream(self, messages: Messages) -> Iterator[Delta]: ...


def parse_llm_name(name: str) -> tuple[str, str | None]:
    """``"ollama:llama3.2"`` → ``("ollama", "llama3.2")``; unknown providers raise ``ConfigError``."""
    provider, _, model = name.strip().partition(":")
    provider = provider.lower()
    if provider != NO_LLM:
        found = find_provider(provider)
        if found is None:
            names = ", ".join(provider_names())
            raise ConfigError(f"unknown LLM {name!r}; use one of {names} (set {VAR}LLM or --llm)")
        provider = found.name
    return provider, (model or None)


class LlamaIndexChatModel:
    """Adapter from a llama-index LLM to ``ChatModel``, with errors translated."""

    def __init__(self, provider: str, model: str, llm: Any, settings: GenerationSettings, base_url: str) -> None:
        self.provider = provider
        self.model = model
        self.llm = llm
        self.settings = settings
        self.base_url = base_url

    def _messages(self, messages: Messages) -> list[Any]:
        from llama_index.core.llms import ChatMessage, MessageRole

        return [
            ChatMessage(role=MessageRole.SYSTEM, content=messages.system),
            ChatMessage(role=MessageRole.USER, content=messages.user),
        ]

    def complete(self, messages: Messages) -> Completion:
        try:
            response = self.llm.chat(self._messages(messages))
        except Exception as exc:
            raise self._error(exc) from exc
        prompt, completion = token_counts(response)
        return Completion(response.message.content or "", prompt, completion)

    def stream(self, messages: Messages) -> Iterator[Delta]:
        try:
            last = None
            for response in self.llm.stream_chat(self._messages(messages)):
                last = response
                if response.delta:
                    yield Delta(response.delta)
        except Exception as exc:
            raise self._error(exc) from exc
        if last is not None:
            prompt, completion = token_counts(last)
            yield Delta("", prompt, completion)

    def _error(self, exc: Exception) -> Exception:
        return translate_error(exc, self.provider, self.base_url, self.settings.timeout_s)


# Exception classes of the SDKs and transports, taken from the modules only once they are loaded: an exception
# from a module that was never imported cannot occur, so classifying one imports nothing (start-up stays light).
SDK_ERRORS = {
    "timeout": (("openai", "APITimeoutError"), ("anthropic", "APITimeoutError"), ("httpx", "TimeoutException")),
    "connection": (("openai", "APIConnectionError"), ("anthropic", "APIConnectionError"), ("httpx", "TransportError")),
}


def _loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The classes ``(module, name)`` of the modules already imported."""
    found = (getattr(sys.modules.get(module), name, None) for module, name in names)
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, BaseException))


def _status(err: BaseException) -> int | None:
    """The HTTP status an SDK/transport error carries (openai/anthropic ``APIStatusError``, httpx, ollama)."""
    httpx, ollama = sys.modules.get("httpx"), sys.modules.get("ollama")
    if httpx is not None and isinstance(err, httpx.HTTPStatusError):
        return int(err.response.status_code)
    if ollama is not None and isinstance(err, ollama.ResponseError):
        code = err.status_code
        return code if isinstance(code, int) and code >= 100 else None
    if isinstance(err, _loaded((("openai", "APIStatusError"), ("anthropic", "APIStatusError")))):
        code = getattr(err, "status_code", None)
        return code if isinstance(code, int) else None
    return None


def translate_error(exc: BaseException, provider: str, base_url: str, timeout_s: float) -> Exception:
    """Map SDK/transport exceptions (openai, anthropic, httpx, ollama) onto citewise errors by type and status."""
    chain = [e for e in (exc, exc.__cause__, exc.__context__) if e is not None]
    timeouts: tuple[type[BaseException], ...] = (TimeoutError, *_loaded(SDK_ERRORS["timeout"]))
    status = next((code for code in map(_status, chain) if code is not None), None)
    if any(isinstance(err, timeouts) for err in chain) or status in (408, 504):
        return UpstreamTimeout(
            f"{provider} at {base_url} did not answer within {timeout_s:g} s "
            f"(raise {VAR}TIMEOUT_S, or use a faster model)"
        )
    unreachable: tuple[type[BaseException], ...] = (ConnectionError, *_loaded(SDK_ERRORS["connection"]))
    if status is None and any(isinstance(err, unreachable) for err in chain):
        return GenerationError(
            f"cannot reach {provider} at {base_url} ({type(exc).__name__}); "
            f"check that the server runs and that {VAR}BASE_URL points at it"
        )
    if status in (401, 403):
        return GenerationError(f"{provider} rejected the API key ({status}); check {VAR}API_KEY")
    if status == 404:
        return GenerationError(
            f"{provider} does not know the model or path ({exc}); check {VAR}MODEL and {VAR}BASE_URL"
        )
    if status == 429:
        return GenerationError(
            f"{provider} at {base_url} is rate-limiting us or the quota is spent (429); retry later, or raise "
            f"{VAR}RETRIES"
        )
    if status is not None and 400 <= status < 500:
        return GenerationError(
            f"{provider} rejected the request ({status}: {exc}); check {VAR}MODEL and {VAR}MAX_TOKENS"
        )
    if status is not None:
        return GenerationError(f"{provider} at {base_url} failed with a server error ({status}); retry later")
    return GenerationError(f"{provider} failed: {type(exc).__name__}: {exc}")


def token_counts(response: Any) -> tuple[int | None, int | None]:
    """Prompt/completion tokens from a llama-index ChatResponse, whichever way the provider reports them."""
    sources: list[Any] = [getattr(response, "additional_kwargs", None) or {}]
    raw = getattr(response, "raw", None)
    if raw is not None:
        sources.append(raw)
        sources.append(_get(raw, "usage"))
    for src in sources:
        if src is None:
            continue
        for p_key, c_key in (
            ("prompt_tokens", "completion_tokens"),
            ("input_tokens", "output_tokens"),
            ("prompt_eval_count", "eval_count"),
        ):
            p, c = _get(src, p_key), _get(src, c_key)
            if isinstance(p, int) and isinstance(c, int):
                return p, c
    return None, None


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def build_chat_model(settings: GenerationSettings, name: str | None = None) -> ChatModel | None:
    """The configured LLM (``None`` for ``extractive``); raises ``ConfigError`` naming a missing setting."""
    name, model_override = parse_llm_name(name or settings.llm)
    if name == NO_LLM:
        return None
    provider = find_provider(name)
    assert provider is not None  # parse_llm_name found it
    model = model_override or settings.model
    if not model:
        raise ConfigError(f"the {name} LLM needs a model name: set {VAR}MODEL (or --llm {name}:MODEL)")
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    if not key and provider.key_env:
        key = os.environ.get(provider.key_env, "")
        if not key:
            raise ConfigError(f"the {name} LLM needs an API key: set {VAR}API_KEY (or {provider.key_env})")
    llm, base_url = provider.build(settings, model, key)
    return LlamaIndexChatModel(name, model, llm, settings, base_url)


# -- the built-in providers ---------------------------------------------------------------------------
def _openai_compatible(settings: GenerationSettings, model: str, key: str, base_url: str) -> tuple[Any, str]:
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model=model,
        api_base=base_url,
        api_key=key or "no-key",
        timeout=settings.timeout_s,
        max_retries=settings.retries,
        is_chat_model=True,
        context_window=32768,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
    return llm, base_url


def _openai(settings: GenerationSettings, model: str, key: str) -> tuple[Any, str]:
    return _openai_compatible(settings, model, key, settings.base_url or OPENAI_URL)


def _openai_like(settings: GenerationSettings, model: str, key: str) -> tuple[Any, str]:
    if not settings.base_url:
        raise ConfigError(f"the openai-like LLM needs a server URL: set {VAR}BASE_URL (e.g. http://localhost:8080/v1)")
    return _openai_compatible(settings, model, key, settings.base_url)


def _ollama(settings: GenerationSettings, model: str, key: str) -> tuple[Any, str]:
    from llama_index.llms.ollama import Ollama

    base_url = settings.base_url or OLLAMA_URL
    llm = Ollama(
        model=model,
        base_url=base_url,
        temperature=settings.temperature,
        request_timeout=settings.timeout_s,
        additional_kwargs={"num_predict": settings.max_tokens},
    )
    return llm, base_url


def _anthropic(settings: GenerationSettings, model: str, key: str) -> tuple[Any, str]:
    from llama_index.llms.anthropic import Anthropic

    llm = Anthropic(
        model=model,
        api_key=key,
        base_url=settings.base_url,
        timeout=settings.timeout_s,
        max_retries=settings.retries,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
    return llm, settings.base_url or ANTHROPIC_URL


for _builtin in (
    Provider("openai", _openai, key_env="OPENAI_API_KEY"),
    Provider("openai-like", _openai_like, aliases=("openai-compatible", "openai_like", "openailike")),
    Provider("ollama", _ollama),
    Provider("anthropic", _anthropic, key_env="ANTHROPIC_API_KEY"),
):
    register_provider(_builtin)
