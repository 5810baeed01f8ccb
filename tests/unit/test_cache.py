"""citewise.cache.LruCache: the one cache helper (query vectors, sentence vectors, worker chunkers)."""

from __future__ import annotations

import threading

import pytest

from citewise.cache import LruCache


def test_least_recently_used_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get_many(["a", "c", "x"]) == {"a": 1, "c": 3} and len(cache) == 2


def test_get_or_make_makes_once_and_size_zero_keeps_nothing() -> None:
    made: list[str] = []
    cache: LruCache[str, str] = LruCache(4)
    assert cache.get_or_make("k", lambda: made.append("k") or "v") == "v"
    assert cache.get_or_make("k", lambda: made.append("k") or "w") == "v" and made == ["k"]
    off: LruCache[str, str] = LruCache(0)
    off.put_many({"a": "1"})
    assert off.get("a") is None and len(off) == 0
    with pytest.raises(ValueError, match="cache size must be >= 0"):
        LruCache(-1)


def test_concurrent_puts_stay_bounded() -> None:
    cache: LruCache[int, int] = LruCache(50)

    def fill(base: int) -> None:
        for i in range(500):
            cache.put(base + i, i)
            cache.get_many([base, base + i])

    threads = [threading.Thread(target=fill, args=(n * 1000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50


def test_an_item_past_its_lifetime_is_gone() -> None:
    now = [0.0]
    cache: LruCache[str, int] = LruCache(4, ttl_s=10.0, clock=lambda: now[0])
    cache.put("a", 1)
    now[0] = 5.0
    cache.put("b", 2)
    now[0] = 12.0
    assert cache.get("a") is None and cache.get_many(["a", "b"]) == {"b": 2} and len(cache) == 1
