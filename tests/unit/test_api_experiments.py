"""Experiment files (every bad one named), sticky assignment by share, and the report's statistics."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from api.experiment_report import two_proportion_p, wilson
from api.experiments import Experiment
from api.serving import check_experiment
from citewise.errors import ConfigError
from citewise.settings import Settings

GOOD = {"name": "p2", "variants": [{"name": "a", "share": 0.25, "prompt": "answer@1"}, {"name": "b", "share": 0.75}]}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "experiment.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        ("{not json", "cannot read it as JSON"),
        ({"variants": []}, '"name"'),
        ({"name": "x", "variants": [{"name": "a", "share": 1}]}, "at least two variants"),
        ({"name": "x", "variants": [{"name": "a", "share": 0.5}, {"name": "a", "share": 0.5}]}, "unique"),
        ({"name": "x", "variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.6}]}, "add up to 1.1"),
        ({"name": "x", "variants": [{"name": "a", "share": 0}, {"name": "b", "share": 1}]}, "share must be"),
        ({"name": "x", "variants": [{"name": "a", "share": 0.5, "fusion": "rrf"}, {"name": "b", "share": 0.5}]},
         "unknown field(s) ['fusion']"),
        ({"name": "x", "variants": [{"name": "a", "share": 0.5, "mode": "bm25"}, {"name": "b", "share": 0.5}]},
         "mode: dense/sparse/hybrid"),
        ({**GOOD, "sticky": "tenant"}, "'sticky' is 'tenant'; use one of key, conversation"),
        ({"name": "x", "variants": [{"name": "a", "share": 0.5, "k": 99}, {"name": "b", "share": 0.5}]}, "k=99"),
    ],
)  # fmt: skip
def test_bad_experiment_files_say_what_is_wrong(tmp_path: Path, data: Any, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        Experiment.load(_write(tmp_path, data))
    assert "CITEWISE_EXPERIMENTS_FILE" in info.value.message and hint in info.value.message


def test_missing_file_and_server_side_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        Experiment.load(tmp_path / "nope.json")
    assert Experiment.load(None) is None
    settings = Settings(data_dir=tmp_path)
    bad_llm = {**GOOD, "variants": [{"name": "a", "share": 0.5, "llm": "openai:gpt-4o"}, {"name": "b", "share": 0.5}]}
    with pytest.raises(ConfigError, match="CITEWISE_API__LLMS"):
        check_experiment(Experiment.load(_write(tmp_path, bad_llm)), settings)
    bad_prompt = {**GOOD, "variants": [{"name": "a", "share": 0.5, "prompt": "answer@9"}, {"name": "b", "share": 0.5}]}
    with pytest.raises(ConfigError, match="variant a"):
        check_experiment(Experiment.load(_write(tmp_path, bad_prompt)), settings)


def test_assignment_is_sticky_and_follows_the_shares(tmp_path: Path) -> None:
    experiment = Experiment.load(_write(tmp_path, GOOD))
    assert experiment is not None
    assert experiment.variants[0].overrides == {"prompt": "answer@1"} and experiment.variants[1].overrides == {}
    picks = Counter(experiment.assign(f"{n:08x}").name for n in range(4000))
    assert 0.22 < picks["a"] / 4000 < 0.28
    assert all(experiment.assign("0123abcd") == experiment.assign("0123abcd") for _ in range(3))


def test_sticky_per_conversation_assigns_each_conversation_and_keeps_ask_per_key(tmp_path: Path) -> None:
    per_key = Experiment.load(
        _write(tmp_path, {**GOOD, "variants": [*GOOD["variants"][:1], {"name": "b", "share": 0.75, "mode": "sparse"}]})
    )
    assert per_key is not None and per_key.sticky == "key" and per_key.variants[1].overrides == {"mode": "sparse"}
    assert {per_key.assign("key-1", f"conv-{n}").name for n in range(50)} == {per_key.assign("key-1").name}
    per_conversation = Experiment.load(_write(tmp_path, {**GOOD, "sticky": "conversation"}))
    assert per_conversation is not None
    names = [per_conversation.assign("key-1", f"conv-{n}").name for n in range(200)]
    assert set(names) == {"a", "b"} and 0.15 < names.count("a") / 200 < 0.35  # one key, conversations spread
    assert names == [per_conversation.assign("key-2", f"conv-{n}").name for n in range(200)]  # by conversation only
    assert per_conversation.assign("key-1").name == per_conversation.assign("key-1").name  # /v1/ask: per key


def test_intervals_and_p_values() -> None:
    assert wilson(0, 0) is None
    low, high = wilson(10, 10) or (0, 0)
    assert high == 1.0 and 0.69 < low < 0.73
    assert two_proportion_p(10, 10, 0, 10) < 0.001
    assert two_proportion_p(5, 10, 5, 10) == 1.0


def test_a_reask_is_the_same_key_and_question_within_the_window() -> None:
    from api.signals import ReaskWatch

    now = [0.0]
    watch = ReaskWatch(window_s=60, most=2, clock=lambda: now[0])
    assert watch.seen("acme", "k1", "Who was Anna?", "a1") is None
    now[0] = 30.0
    assert watch.seen("acme", "k1", "who was anna", "a2") == "a1"  # normalized, within a minute
    assert watch.seen("acme", "k2", "who was anna", "b1") is None  # another key
    now[0] = 200.0
    assert watch.seen("acme", "k2", "who was anna", "b2") is None  # too late
