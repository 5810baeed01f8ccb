"""Regression gates: pass within max-drop, fail naming each metric that dropped or disappeared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citewise.errors import InvalidRequest
from evals.gates import check, load_metrics


def test_within_max_drop_passes() -> None:
    result = check({"a": 0.70, "b": 0.5, "new": 0.1}, {"a": 0.715, "b": 0.5}, 0.02)
    assert result.passed and result.checked == ("a", "b")


def test_each_dropped_or_missing_metric_is_named() -> None:
    result = check({"a": 0.60, "b": 0.49, "c": 0.9}, {"a": 0.7, "b": 0.5, "c": 0.5, "gone": 0.3}, 0.02)
    assert not result.passed
    assert [r.metric for r in result.regressions] == ["a", "gone"]
    assert result.regressions[0].describe() == "a: 0.6000 < baseline 0.7000 (drop 0.1000)"
    assert "missing" in result.regressions[1].describe()
    assert result.as_json()["regressions"][0]["drop"] == 0.1


def test_exactly_max_drop_passes() -> None:
    assert check({"a": 0.68}, {"a": 0.70}, 0.02).passed


def test_bad_max_drop() -> None:
    with pytest.raises(InvalidRequest, match="max-drop"):
        check({}, {"a": 1.0}, 2.0)


def test_load_metrics_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="baseline file not found"):
        load_metrics(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        load_metrics(bad)
    bad.write_text(json.dumps({"modes": {}}))
    with pytest.raises(InvalidRequest, match='no "metrics"'):
        load_metrics(bad)
    bad.write_text(json.dumps({"metrics": {"a": "high"}}))
    with pytest.raises(InvalidRequest, match="not numbers"):
        load_metrics(bad)
    bad.write_text(json.dumps({"metrics": {"a": 1}}))
    assert load_metrics(bad) == {"a": 1.0}
