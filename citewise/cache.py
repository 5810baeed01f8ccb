"""The one in-memory cache helper: a bounded, thread-safe LRU (query vectors, sentence vectors, worker chunkers)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``size`` items, the least recently used dropped first (``size`` 0 keeps nothing); thread-safe.

    ``get_or_make`` builds a missing value outside the lock, so two threads may both build it; the last one kept
    wins (every value cached here is a pure function of its key)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"cache size must be >= 0, got {size}")
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The cached ones of ``keys`` (the others are left out)."""
        with self._lock:
            found = {key: self._items[key] for key in keys if key in self._items}
            for key in found:
                self._items.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        self.put_many({key: value})

    def put_many(self, items: Mapping[K, V]) -> None:
        if not self.size:
            return
        with self._lock:
            for key, value in items.items():
                self._items[key] = value
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
