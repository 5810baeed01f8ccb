"""Token estimates (when a provider reports none) and the cost estimate from the settings' price table."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _encoding() -> Any:
    try:
        from citewise.offline import apply_offline_defaults

        apply_offline_defaults()  # tiktoken reads llama-index's bundled files instead of downloading
        import tiktoken

        return tiktoken.get_encoding("cl100k_base")
    except Exception:  # no tiktoken or no bundled file: fall back to characters / 4
        return None


def estimate_tokens(text: str) -> int:
    enc = _encoding()
    if enc is None:
        return (len(text) + 3) // 4
    return len(enc.encode(text, disallowed_special=()))


def price(prices: dict[str, tuple[float, float]], model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for the tokens at ``prices[model]`` (per million, input/output); 0.0 for models not in the table."""
    name = model.split(":", 1)[-1]
    rate = prices.get(model) or prices.get(name)
    if rate is None:
        return 0.0
    return round((prompt_tokens * rate[0] + completion_tokens * rate[1]) / 1_000_000, 8)
