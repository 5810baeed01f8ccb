"""The LLM provider registry: built-in providers and plugins register here, ``build_chat_model`` looks them up.

Like simonw/llm's plugins, an installed package adds providers through an entry point in the group
``citewise.llm_providers``; the entry point names a function that receives ``register_provider``::

    [project.entry-points."citewise.llm_providers"]
    mine = "my_package.citewise_plugin:register"

    def register(register_provider):
        register_provider(Provider("mine", build=my_builder, key_env="MINE_API_KEY"))

``build(settings, model, key)`` returns a llama-index LLM and the URL it talks to (for error messages). Plugins are
loaded once, at the first lookup; a plugin that fails to load is logged and skipped (the others still work).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from citewise.settings import GenerationSettings
from citewise.telemetry import get_logger

log = get_logger(__name__)
ENTRY_POINTS = "citewise.llm_providers"
NO_LLM = "extractive"  # the answerer that needs no provider
_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")

Builder = Callable[[GenerationSettings, str, str], tuple[Any, str]]


@dataclass(frozen=True)
class Provider:
    """An LLM provider. ``key_env``: its own API key variable; when set, a key is required (``API_KEY`` or it)."""

    name: str
    build: Builder
    key_env: str | None = None
    aliases: tuple[str, ...] = ()


_providers: dict[str, Provider] = {}
_names: dict[str, str] = {}  # name or alias -> provider name
_plugins_loaded = False


def register_provider(provider: Provider) -> Provider:
    """Add a provider; a name (or alias) that is taken or malformed is a ``ValueError`` (nothing is replaced)."""
    names = (provider.name, *provider.aliases)
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"LLM provider name {name!r} must be lower-case letters, digits, '-' or '_'")
        if name == NO_LLM or name in _names:
            raise ValueError(f"LLM provider name {name!r} is already taken")
    _providers[provider.name] = provider
    _names.update(dict.fromkeys(names, provider.name))
    return provider


def find_provider(name: str) -> Provider | None:
    """The provider called ``name`` (or one of its aliases), plugins included; None if there is none."""
    _load_plugins()
    found = _names.get(name)
    return _providers[found] if found is not None else None


def provider_names() -> tuple[str, ...]:
    """Every name ``CITEWISE_GENERATION__LLM`` accepts (aliases left out), ``extractive`` first."""
    _load_plugins()
    return (NO_LLM, *_providers)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINTS):
        try:
            entry.load()(register_provider)
        except Exception as exc:  # a broken plugin must not take the built-in providers down with it
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("llm.plugin_failed", plugin=entry.name, target=entry.value, error=reason)
