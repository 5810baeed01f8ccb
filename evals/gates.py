"""Regression gates: every metric of a baseline must be reached, within ``max_drop``, by the current run.

A baseline is JSON with a flat ``metrics`` object (``{"hybrid/ndcg@10": 0.71, ...}``); a saved ``--json``
report of ``citewise eval`` is itself a valid baseline. Metrics only in the current run are not gated;
metrics only in the baseline fail (a metric must not silently disappear).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from citewise.errors import InvalidRequest

EPS = 1e-9


@dataclass(frozen=True)
class Regression:
    metric: str
    baseline: float
    current: float | None  # None: the metric is missing from the current run

    @property
    def drop(self) -> float | None:
        return None if self.current is None else round(self.baseline - self.current, 6)

    def describe(self) -> str:
        if self.current is None:
            return f"{self.metric}: missing from this run (baseline {self.baseline:.4f})"
        return f"{self.metric}: {self.current:.4f} < baseline {self.baseline:.4f} (drop {self.drop:.4f})"


@dataclass(frozen=True)
class GateResult:
    max_drop: float
    checked: tuple[str, ...]
    regressions: tuple[Regression, ...]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def as_json(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "max_drop": self.max_drop,
            "checked": list(self.checked),
            "regressions": [
                {"metric": r.metric, "baseline": r.baseline, "current": r.current, "drop": r.drop}
                for r in self.regressions
            ],
        }


def load_metrics(path: str | Path) -> dict[str, float]:
    """The flat ``metrics`` object of a baseline or report file; ``InvalidRequest`` says what is wrong."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidRequest(f"baseline file not found: {path}; save a run with --json to create one") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise InvalidRequest(f'{path} has no "metrics" object; a baseline looks like {{"metrics": {{"name": 0.5}}}}')
    bad = [k for k, v in metrics.items() if not isinstance(v, int | float) or isinstance(v, bool)]
    if bad:
        raise InvalidRequest(f"{path}: metric(s) {', '.join(bad)} are not numbers")
    return {str(k): float(v) for k, v in metrics.items()}


def check(current: Mapping[str, float], baseline: Mapping[str, float], max_drop: float) -> GateResult:
    """Compare ``current`` with ``baseline``; a metric fails when it is more than ``max_drop`` below it."""
    if not 0 <= max_drop <= 1 or math.isnan(max_drop):
        raise InvalidRequest(f"--max-drop {max_drop} is out of range; use 0..1 (e.g. 0.02)")
    regressions = []
    for name, base in sorted(baseline.items()):
        now = current.get(name)
        if now is None or math.isnan(now) or base - now > max_drop + EPS:
            regressions.append(Regression(name, base, None if now is None or math.isnan(now) else now))
    return GateResult(max_drop, tuple(sorted(baseline)), tuple(regressions))
