"""The response cache, spend budgets and the collection write counter, without a server; and their settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.budgets import BudgetExceeded, Budgets, period_of
from api.cache import AnswerCache, Variant, cache_key, normalize
from citewise.docstore import DocStore, DocumentRecord, PendingDocument
from citewise.errors import ConfigError
from citewise.settings import AnswerCacheSettings, BudgetLimit, BudgetSettings, load_settings
from citewise.types import Answer, Usage


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("CITEWISE_ANSWER_CACHE__ENABLED", "maybe", "valid boolean"),
        ("CITEWISE_ANSWER_CACHE__MAX_ENTRIES", "0", "greater than or equal to 1"),
        ("CITEWISE_ANSWER_CACHE__TTL_S", "-1", "greater than or equal to 0"),
        ("CITEWISE_BUDGETS__PERIOD", "week", "'day' or 'month'"),
        ("CITEWISE_BUDGETS__DEFAULT", '{"soft_usd": -1}', "greater than or equal to 0"),
        ("CITEWISE_BUDGETS__DEFAULT", '{"soft_usd": 5, "hard_usd": 1}', "hard budget must be the larger"),
        ("CITEWISE_BUDGETS__TENANTS", '{"acme": {"hard_usd": "lots"}}', "valid number"),
        ("CITEWISE_BUDGETS__KEYS", '{"my-key": {"hard_usd": 1}}', "8 lowercase hex digits"),
    ],
)
def test_bad_settings_name_the_variable_and_what_is_allowed(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, hint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert variable in info.value.message and hint in info.value.message


def _answer(text: str = "It is.") -> Answer:
    return Answer(text, False, (), (), "answer@2", "extractive", Usage(10, 2, 0.5), {"retrieve": 9.0}, "a1")


VARIANT = Variant("extractive", "answer@2", 5, None, None)


def test_the_key_normalizes_the_question_and_separates_everything_else() -> None:
    assert normalize("  Who  was ANNA?? ") == normalize("who was anna") == "who was anna"
    base = cache_key("acme", ("hr",), "Who was Anna?", VARIANT, 3)
    assert cache_key("acme", ("hr",), "who was  anna", VARIANT, 3) == base
    others = [
        cache_key("beta", ("hr",), "Who was Anna?", VARIANT, 3),  # tenant
        cache_key("acme", ("it",), "Who was Anna?", VARIANT, 3),  # ACL groups
        cache_key("acme", None, "Who was Anna?", VARIANT, 3),  # admin: every group
        cache_key("acme", ("hr",), "Who was Anna?", VARIANT, 4),  # the collection changed
        cache_key("acme", ("hr",), "Who was Anna?", Variant("openai:gpt-4o", "answer@2", 5, None, None), 3),
        cache_key("acme", ("hr",), "Who was Anna?", Variant("extractive", "answer@1", 5, None, None), 3),
        cache_key("acme", ("hr",), "Who was Anna?", Variant("extractive", "answer@2", 3, None, None), 3),
        cache_key("acme", ("hr",), "Who was Anna?", Variant("extractive", "answer@2", 5, {"doc_id": "x"}, None), 3),
    ]
    assert len({base, *others}) == len(others) + 1


def test_hits_are_fresh_answers_and_the_cache_is_bounded_and_expires() -> None:
    now = [0.0]
    cache = AnswerCache(AnswerCacheSettings(enabled=True, max_entries=2, ttl_s=10), clock=lambda: now[0])
    cache.put("a", _answer())
    hit = cache.get("a")
    assert hit is not None and hit.answer == "It is." and hit.answer_id != "a1"
    assert hit.usage == Usage() and set(hit.timings_ms) == {"cache_lookup", "total"}
    cache.put("b", _answer())
    cache.get("a")  # a is now the most recently used
    cache.put("c", _answer())
    assert len(cache) == 2 and cache.get("b") is None and cache.get("a") is not None
    now[0] = 11.0
    assert cache.get("a") is None and cache.get("c") is None  # expired


def test_period_names_and_resets() -> None:
    assert period_of(datetime(2026, 12, 4, 5, 0, tzinfo=UTC), "day") == (
        "2026-12-04",
        datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert period_of(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), "month") == (
        "2026-12",
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert period_of(datetime(2026, 2, 10, tzinfo=UTC), "month")[1] == datetime(2026, 3, 1, tzinfo=UTC)


def test_budgets_go_soft_then_hard_and_reset_with_the_period(tmp_path: Path) -> None:
    now = [datetime(2026, 12, 4, 12, 0, tzinfo=UTC)]
    settings = BudgetSettings(
        period="day",
        default=BudgetLimit(soft_usd=1.0, hard_usd=2.0),
        keys={"0123abcd": BudgetLimit(soft_usd=0.1)},
    )
    budgets = Budgets(settings, tmp_path, clock=lambda: now[0])
    assert budgets.check("acme", "ffffffff").state == "ok"
    budgets.record("acme", "ffffffff", 100, 10, 0.2)
    assert budgets.check("acme", "ffffffff").state == "ok"
    key = budgets.check("acme", "0123abcd")  # nothing spent by this key yet
    assert key.state == "ok"
    budgets.record("acme", "0123abcd", 100, 10, 0.9)
    soft = budgets.check("acme", "ffffffff")
    assert soft.state == "soft" and soft.scope == "tenant acme" and "extractive" in soft.json()["message"]
    assert budgets.check("beta", "ffffffff").state == "ok"  # tenants are counted apart
    budgets.record("acme", "ffffffff", 100, 10, 1.0)
    with pytest.raises(BudgetExceeded) as info:
        budgets.check("acme", "ffffffff")
    assert info.value.status == 429 and info.value.code == "budget_exceeded"
    assert info.value.retry_after_s == 12 * 3600 and "2026-12-05T00:00:00Z" in info.value.message
    now[0] = datetime(2026, 12, 5, 0, 1, tzinfo=UTC)
    assert budgets.check("acme", "ffffffff").state == "ok"
    assert {r["period"] for r in budgets.store.rows()} == {"2026-12-04"}
    budgets.close()


def test_every_docstore_write_moves_the_version(tmp_path: Path) -> None:
    store = DocStore(tmp_path, "c")
    assert store.version() == 0
    record = DocumentRecord("d1", "/a.txt", "T", "txt", None, "default", pending_hash="h1")
    store.begin([PendingDocument(record, "one")])
    store.commit(["d1"])
    after_commit = store.version()
    assert after_commit >= 2
    store.get("d1")
    assert store.version() == after_commit  # reads do not
    assert DocStore(tmp_path, "c").version() == after_commit  # another connection sees it
    store.delete("d1")
    assert store.version() == after_commit + 1
    store.close()
