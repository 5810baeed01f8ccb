"""The response cache of ``POST /v1/ask``: a repeated question is answered from memory.

An entry is keyed by the caller's tenant and ACL groups, the normalized question (``normalize``: Unicode NFKC,
case-folded, whitespace collapsed, trailing ``?!.`` and spaces dropped), the answer settings (llm, prompt, k,
filters, rerank) and the collection's write counter (``DocStore.version()``, bumped by every ingest, delete and
re-encode after its index writes), so an answer computed before a write is never served after it. Bounded
(least recently used dropped beyond ``CITEWISE_ANSWER_CACHE__MAX_ENTRIES``), entries expire after
``CITEWISE_ANSWER_CACHE__TTL_S``; off unless ``CITEWISE_ANSWER_CACHE__ENABLED=true``. Errors are never cached.
A hit is a new answer (its own ``answer_id``, zero usage) with ``cache: "hit"`` and ``timings_ms.cache_lookup``;
a miss says ``cache: "miss"``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass, replace
from typing import Any

from citewise.cache import LruCache
from citewise.settings import AnswerCacheSettings
from citewise.types import Answer, Usage

_SPACES = re.compile(r"\s+")


def normalize(question: str) -> str:
    """The question as the cache compares it."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", question).casefold()).strip()
    return text.rstrip("?!. ")


@dataclass(frozen=True)
class Variant:
    """Everything besides the question and the documents that decides an answer."""

    llm: str
    prompt: str
    k: int
    filters: Any
    rerank: bool | None
    mode: str | None = None

    def fingerprint(self) -> str:
        parts = [self.llm, self.prompt, self.k, self.filters, self.rerank, self.mode]
        return json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)


def cache_key(tenant: str, groups: tuple[str, ...] | None, question: str, variant: Variant, version: int) -> str:
    parts = [tenant, "*" if groups is None else ",".join(sorted(groups)), normalize(question)]
    raw = json.dumps([*parts, variant.fingerprint(), version], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class AnswerCache:
    """A thread-safe LRU of answers with a lifetime; ``get`` returns a fresh copy marked as a hit."""

    def __init__(self, settings: AnswerCacheSettings, clock: Any = time.monotonic) -> None:
        self.enabled = settings.enabled
        self.max_entries = settings.max_entries
        self.ttl_s = settings.ttl_s
        self._entries: LruCache[str, Answer] = LruCache(settings.max_entries, settings.ttl_s, clock)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Answer | None:
        started = time.perf_counter()
        answer = self._entries.get(key)
        if answer is None:
            return None
        lookup_ms = round((time.perf_counter() - started) * 1000, 3)
        timings = {"cache_lookup": lookup_ms, "total": lookup_ms}
        return replace(answer, answer_id=uuid.uuid4().hex, usage=Usage(), timings_ms=timings)

    def put(self, key: str, answer: Answer) -> None:
        self._entries.put(key, answer)
