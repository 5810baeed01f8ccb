"""Conversations without models: the store (ownership, retention, limits), settings, and the follow-up rewrite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from citewise.conversations import ConversationStore
from citewise.errors import ConfigError, GenerationError, InvalidRequest, NotFound
from citewise.settings import ConversationSettings, load_settings
from generation.conversation import Conversations
from generation.followup import PriorTurn, QuestionRewriter, clean_output, key_phrases, rewrite_rule
from generation.prompts import load_prompt
from generation.providers import Completion, Delta

ANSWER = {"answer": "Rollo.", "citations": []}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def store(tmp_path: Path, clock: Clock) -> Iterator[ConversationStore]:
    with ConversationStore(tmp_path, ConversationSettings(retention_days=1, max_turns=3), clock) as s:
        yield s


def test_turns_are_kept_in_order_and_titled_by_the_first_message(store: ConversationStore) -> None:
    c = store.create("acme", "key1")
    assert (c.turns, c.title) == (0, "")
    store.add_turn(c.conversation_id, "acme", "key1", "Who was Rollo?", "Who was Rollo?", "none", ANSWER)
    store.add_turn(c.conversation_id, "acme", "key1", "when did he die?", "When did Rollo die?", "rule", ANSWER)
    turns = store.turns(c.conversation_id, "acme", "key1")
    assert [(t.n, t.question, t.standalone, t.rewrite) for t in turns] == [
        (1, "Who was Rollo?", "Who was Rollo?", "none"),
        (2, "when did he die?", "When did Rollo die?", "rule"),
    ]
    assert turns[0].answer == ANSWER
    assert [t.n for t in store.turns(c.conversation_id, "acme", "key1", last=1)] == [2]
    got = store.get(c.conversation_id, "acme", "key1")
    assert (got.turns, got.title) == (2, "Who was Rollo?")


def test_another_key_or_tenant_gets_not_found_exactly_like_an_unknown_id(store: ConversationStore) -> None:
    c = store.create("acme", "key1")
    cid = c.conversation_id
    for tenant, owner in (("acme", "key2"), ("beta", "key1")):
        with pytest.raises(NotFound) as foreign:
            store.get(cid, tenant, owner)
        with pytest.raises(NotFound) as unknown:
            store.get("0" * 32, tenant, owner)
        assert str(foreign.value).replace(cid, "X") == str(unknown.value).replace("0" * 32, "X")
        with pytest.raises(NotFound):
            store.add_turn(cid, tenant, owner, "q", "q", "none", ANSWER)
        with pytest.raises(NotFound):
            store.turns(cid, tenant, owner)
        with pytest.raises(NotFound):
            store.delete(cid, tenant, owner)
        assert store.list(tenant, owner) == (0, [])
    assert store.list("acme", "key1")[0] == 1  # untouched by the attempts
    assert store.delete(cid, "acme", "key1") == 0
    with pytest.raises(NotFound):
        store.get(cid, "acme", "key1")


def test_retention_drops_conversations_not_written_for_retention_days(store: ConversationStore, clock: Clock) -> None:
    old = store.create("acme", "key1")
    clock.now += 0.5 * 86_400
    fresh = store.create("acme", "key1")
    clock.now += 0.6 * 86_400  # old: 1.1 days, fresh: 0.6 days
    with pytest.raises(NotFound, match="kept 1 days"):
        store.get(old.conversation_id, "acme", "key1")  # expired is never served, even before a purge
    assert [c.conversation_id for c in store.list("acme", "key1")[1]] == [fresh.conversation_id]
    assert store.purge() == 1
    store.add_turn(fresh.conversation_id, "acme", "key1", "q", "q", "none", ANSWER)  # a write renews it
    clock.now += 0.9 * 86_400
    assert store.get(fresh.conversation_id, "acme", "key1").turns == 1


def test_retention_zero_keeps_everything(tmp_path: Path, clock: Clock) -> None:
    with ConversationStore(tmp_path, ConversationSettings(retention_days=0), clock) as s:
        c = s.create("acme", "k")
        clock.now += 10 * 365 * 86_400
        assert s.purge() == 0 and s.get(c.conversation_id, "acme", "k").turns == 0


def test_a_full_conversation_and_too_many_conversations(tmp_path: Path, clock: Clock) -> None:
    with ConversationStore(tmp_path, ConversationSettings(max_turns=1, max_conversations=2), clock) as s:
        first = s.create("acme", "k")
        s.add_turn(first.conversation_id, "acme", "k", "q", "q", "none", ANSWER)
        with pytest.raises(InvalidRequest, match=r"MAX_TURNS=1.*start a new conversation"):
            s.add_turn(first.conversation_id, "acme", "k", "q", "q", "none", ANSWER)
        for _ in range(2):
            clock.now += 1
            s.create("acme", "k")
        s.create("acme", "other")  # another key's conversations do not count
        total, page = s.list("acme", "k")
        assert total == 2 and first.conversation_id not in {c.conversation_id for c in page}


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("CITEWISE_CONVERSATIONS__RETENTION_DAYS", "-1", "greater than or equal to 0"),
        ("CITEWISE_CONVERSATIONS__RETENTION_DAYS", "a week", "valid number"),
        ("CITEWISE_CONVERSATIONS__MAX_TURNS", "0", "greater than or equal to 1"),
        ("CITEWISE_CONVERSATIONS__REWRITE", "magic", "auto"),
    ],
)
def test_bad_conversation_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, hint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert variable in err.value.message and hint in err.value.message


def test_prepare_rejects_empty_and_too_long_messages_and_unknown_ids(store: ConversationStore) -> None:
    chat = Conversations(store, QuestionRewriter(None, "rule"))
    c = store.create("acme", "k")
    with pytest.raises(InvalidRequest, match="the message is empty"):
        chat.prepare(c.conversation_id, "acme", "k", "   ")
    with pytest.raises(InvalidRequest, match="limit is 4000"):
        chat.prepare(c.conversation_id, "acme", "k", "x" * 4001)
    with pytest.raises(NotFound, match="no conversation 'nope'"):
        chat.prepare("nope", "acme", "k", "hello?")
    for n in range(3):
        store.add_turn(c.conversation_id, "acme", "k", f"q{n}", f"q{n}", "none", ANSWER)
    with pytest.raises(InvalidRequest, match="start a new conversation"):
        chat.prepare(c.conversation_id, "acme", "k", "one more?")


def test_prepare_rewrites_from_the_previous_standalone_question(store: ConversationStore) -> None:
    chat = Conversations(store, QuestionRewriter(None, "auto"))
    c = store.create("acme", "k")
    first = chat.prepare(c.conversation_id, "acme", "k", "What was the Norman conquest of England?")
    assert (first.standalone, first.method) == ("What was the Norman conquest of England?", "none")
    chat.record(c.conversation_id, "acme", "k", first, ANSWER)
    second = chat.prepare(c.conversation_id, "acme", "k", "and when did it end?")
    assert (second.standalone, second.method) == ("When did the Norman conquest of England end?", "rule")
    chat.record(c.conversation_id, "acme", "k", second, ANSWER)
    third = chat.prepare(c.conversation_id, "acme", "k", "who won it?")  # the chain keeps its subject
    assert third.standalone == "Who won the Norman conquest of England?"


RULE_CASES = [
    ("Who was Anna Pavlovna Scherer?", "Where did she live?", "Where did Anna Pavlovna Scherer live?"),
    ("Who was Anna Pavlovna Scherer?", "what was her title?", "What was Anna Pavlovna Scherer's title?"),
    ("When did the Normans conquer England?", "Who led them?", "Who led the Normans?"),
    ("When did the Normans conquer England?", "What about Sicily?", "When did the Normans conquer Sicily?"),
    ("In what country is Normandy located?", "and when was it founded?", "When was Normandy founded?"),
    ("What did the Warsaw Pact do in 1955?", "who signed its treaty?", "Who signed the Warsaw Pact's treaty?"),
    ("Who were the Huguenots?", "what was their religion?", "What was the Huguenots' religion?"),
    ("Did Huguenots settle in Saarland?", "who led them there?", "Who led Huguenots in Saarland?"),
    ("What happened to Apollo 1?", "who was its crew?", "Who was Apollo 1's crew?"),
    ("What is the capital of France?", "and the population?", "The population (about: the capital of France)?"),
    ("Which party leads Melbourne's suburbs?", "and in its affluent areas?", "In Melbourne's affluent areas?"),
    ("What is Kenya known for?", "what sports are its people active in?", "What sports are Kenya's people active in?"),
    ("Who was Rollo?", "Was Herve a general, and when did he die?", "Was Herve a general, and when did he die?"),
    ("When did the Normans conquer England?", "When did the Vikings raid Paris?", "When did the Vikings raid Paris?"),
    ("Who was Rollo?", "Which river flows through Rouen in Normandy?", "Which river flows through Rouen in Normandy?"),
]


@pytest.mark.parametrize(("previous", "follow_up", "expected"), RULE_CASES)
def test_rule(previous: str, follow_up: str, expected: str) -> None:
    rewrite = rewrite_rule(follow_up, [PriorTurn(previous, previous, "some answer")])
    assert rewrite.standalone == expected
    changed = expected != follow_up
    assert rewrite.method == ("rule" if changed else "none") and rewrite.changed == changed


def test_rule_without_history_or_phrases_leaves_the_question() -> None:
    assert rewrite_rule("and when did it end?", []).method == "none"
    assert key_phrases("What did the Warsaw Pact do in 1955?") == ["the Warsaw Pact", "1955"]
    assert key_phrases('Who wrote "War and Peace"?') == ["War and Peace"]
    assert key_phrases("how do magnets work?") == ["magnets work"]
    assert key_phrases("When was the St. Bartholomew's Day Massacre?") == ["the St. Bartholomew's Day Massacre"]


class FakeChat:
    provider, model = "fake", "fake-1"

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.seen: list[str] = []

    def complete(self, messages: object) -> Completion:
        self.seen.append(getattr(messages, "user", ""))
        if isinstance(self.reply, Exception):
            raise self.reply
        return Completion(self.reply)

    def stream(self, messages: object) -> Iterator[Delta]:
        yield Delta(self.complete(messages).text)


HISTORY = [PriorTurn("Who was Rollo?", "Who was Rollo?", "Rollo was a Viking leader.")]


def test_the_llm_rewrite_uses_the_versioned_prompt_and_is_cleaned() -> None:
    chat = FakeChat('Standalone question: "When did Rollo die?"\nextra chatter')
    rewrite = QuestionRewriter(chat, "auto").rewrite("when did he die?", HISTORY)
    assert (rewrite.standalone, rewrite.method) == ("When did Rollo die?", "llm")
    assert "User: Who was Rollo?\nAssistant: Rollo was a Viking leader." in chat.seen[0]
    assert "Last question: when did he die?" in chat.seen[0]
    assert load_prompt("rewrite").ref == "rewrite@1"


@pytest.mark.parametrize(
    "reply", ["", "   \n", "???", "Rollo died in 930.", "Last question: ?", GenerationError("server down")]
)
def test_an_unusable_or_failed_llm_rewrite_falls_back_to_the_rule(reply: str | Exception) -> None:
    rewrite = QuestionRewriter(FakeChat(reply), "llm").rewrite("when did he die?", HISTORY)
    assert (rewrite.standalone, rewrite.method) == ("When did Rollo die?", "rule")


def test_rewrite_modes() -> None:
    assert QuestionRewriter(FakeChat("x?"), "off").rewrite("when did he die?", HISTORY).method == "off"
    assert QuestionRewriter(FakeChat("x?"), "rule").rewrite("when did he die?", HISTORY).method == "rule"
    assert QuestionRewriter(FakeChat("x?"), "auto").rewrite("Who was Rollo?", []).method == "none"
    with pytest.raises(ConfigError, match="REWRITE=llm needs an LLM"):
        QuestionRewriter(None, "llm")
    assert clean_output("Question: Who won?") == "Who won?"
    assert clean_output("Last question: Where did Harold II die?") == "Where did Harold II die?"
    assert clean_output("User: What happened to Apollo 1?") == "What happened to Apollo 1?"


def test_two_keys_with_the_same_id_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Conversations are kept per (tenant, key id): the key id must name one key."""
    import json

    import api.auth

    monkeypatch.setattr(api.auth, "_digest", lambda key: "0" * 64)  # any two keys collide
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps({"a" * 20: {"tenant": "t", "role": "reader"}, "b" * 20: {"tenant": "t", "role": "reader"}})
    )
    with pytest.raises(ConfigError, match=r"entry 2 .*is another key's too; replace it"):
        api.auth.KeyRing.load(path)


def test_conversations_from_settings_rewrite_with_the_configured_llm_unless_told_otherwise(
    store: ConversationStore,
) -> None:
    from citewise.settings import Settings

    def rewriter(mode: str, chat: FakeChat | None) -> QuestionRewriter:
        settings = Settings(conversations=ConversationSettings(rewrite=mode))  # type: ignore[arg-type]
        return Conversations.from_settings(settings, store, chat).rewriter

    assert rewriter("auto", FakeChat("When did Rollo die?")).rewrite("when did he die?", HISTORY).method == "llm"
    assert rewriter("auto", None).rewrite("when did he die?", HISTORY).method == "rule"  # extractive: no LLM
    assert rewriter("rule", FakeChat("x?")).chat is None
    with pytest.raises(ConfigError, match="needs an LLM"):
        rewriter("llm", None)
    with pytest.raises(ConfigError, match="REWRITE_PROMPT: unknown prompt 'nope@1'"):
        QuestionRewriter(FakeChat("x?"), "auto", "nope@1")
