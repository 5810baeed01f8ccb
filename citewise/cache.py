"""The one in-memory cache helper: a bounded, thread-safe LRU with an optional lifetime (query vectors, sentence
vectors, Ray workers' chunkers, the API's answers)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``size`` items, the least recently used dropped first (``size`` 0 keeps nothing); with ``ttl_s``,
    an item older than that (by ``clock``) is gone too. Thread-safe.

    ``get_or_make`` builds a missing value outside the lock, so two threads may both build it; the last one kept
    wins (every value cached here is a pure function of its key)."""

    def __init__(self, size: int, ttl_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 0:
            raise ValueError(f"cache size must be >= 0, got {size}")
        self.size = size
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (stored at, value)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _live(self, key: K) -> V | None:
        """The value of ``key`` if present and not expired, now the most recent (caller holds the lock)."""
        found = self._items.get(key)
        if found is None:
            return None
        stored_at, value = found
        if self.ttl_s and self._clock() - stored_at > self.ttl_s:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._live(key)

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The cached ones of ``keys`` (the others are left out)."""
        with self._lock:
            return {key: value for key in keys if (value := self._live(key)) is not None}

    def put(self, key: K, value: V) -> None:
        self.put_many({key: value})

    def put_many(self, items: Mapping[K, V]) -> None:
        if not self.size:
            return
        with self._lock:
            now = self._clock()
            for key, value in items.items():
                self._items[key] = (now, value)
                self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The cached value of ``key``, or ``make()``, remembered."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value
