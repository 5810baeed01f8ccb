"""``citewise experiments report NAME``: per variant, what its answers were like, with 95% intervals and a verdict.

Per variant: answers, thumbs-up rate (of the rated answers; a later rating of an answer replaces an earlier one),
abstention rate, unsupported-sentence rate (shown sentences not supported by their citations), latency p50/p95
(ms), tokens and cost (mean per answer, total cost), and the share of answers with each implicit signal (copy,
open_citation, reask; api.signals). Rates carry Wilson 95% intervals. The verdict compares each
variant with the first (the control) on thumbs-up and abstention by a two-proportion z-test at the 5% level:
"<variant> better/worse than <control>", "no clear difference", or "not enough data" while either side has fewer
than ``MIN_N`` observations of that metric.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from api.experiments import ExperimentStore
from api.signals import KINDS, signals_of
from citewise.errors import NotFound
from citewise.transactions import read_rows

MIN_N = 10
Z95 = 1.959964


def wilson(successes: int, n: int) -> tuple[float, float] | None:
    """Wilson score 95% interval of a proportion; None without observations."""
    if n == 0:
        return None
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def two_proportion_p(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value of the z-test that two proportions are equal."""
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(s1 / n1 - s2 / n2) / se
    return math.erfc(z / math.sqrt(2))


def _ratings(data_dir: Path) -> dict[str, str]:
    rows = read_rows(
        data_dir / "api" / "feedback.sqlite", "SELECT answer_id, rating FROM feedback ORDER BY feedback_id"
    )
    return {str(answer_id): str(rating) for answer_id, rating in rows}


def _rate(successes: int, n: int) -> dict[str, Any]:
    return {
        "rate": round(successes / n, 4) if n else None,
        "n": n,
        "successes": successes,
        "ci95": wilson(successes, n),
    }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 2)


def _variant(rows: list[dict[str, Any]], ratings: dict[str, str], signals: dict[str, set[str]]) -> dict[str, Any]:
    rated = [ratings[r["answer_id"]] for r in rows if r["answer_id"] in ratings]
    latencies = [r["latency_ms"] for r in rows]
    implicit = {kind: _rate(sum(kind in signals.get(r["answer_id"], ()) for r in rows), len(rows)) for kind in KINDS}
    return {
        "answers": len(rows),
        "thumbs_up": _rate(sum(1 for x in rated if x == "up"), len(rated)),
        "abstention": _rate(sum(r["abstained"] for r in rows), len(rows)),
        "unsupported_sentences": _rate(sum(r["unsupported"] for r in rows), sum(r["sentences"] for r in rows)),
        "latency_ms": {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
        "tokens_mean": round(statistics.fmean(r["tokens"] for r in rows), 1) if rows else None,
        "cost_usd": {
            "total": round(sum(r["cost_usd"] for r in rows), 6),
            "mean": round(statistics.fmean(r["cost_usd"] for r in rows), 6) if rows else None,
        },
        "signals": implicit,
    }


def _verdict(metric: str, higher_is_better: bool, control: str, name: str, a: dict[str, Any], b: dict[str, Any]) -> str:
    if a["n"] < MIN_N or b["n"] < MIN_N:
        return f"{metric}: not enough data ({name} {b['n']}, {control} {a['n']}; need {MIN_N} each)"
    p = two_proportion_p(b["successes"], b["n"], a["successes"], a["n"])
    if p >= 0.05:
        return f"{metric}: no clear difference between {name} and {control} (p={p:.3f})"
    better = (b["rate"] > a["rate"]) == higher_is_better
    word = "better" if better else "worse"
    return f"{metric}: {name} {word} than {control} ({b['rate']:.3f} vs {a['rate']:.3f}, p={p:.3g})"


def experiment_report(
    data_dir: Path | str, name: str, variants_order: tuple[str, ...] = (), tenant: str | None = None
) -> dict[str, Any]:
    """The report of experiment ``name`` (the answers of ``tenant``, or of all); ``NotFound`` when no answer was
    served under it. The control is the first of ``variants_order`` (the experiment file's order) that has answers,
    else the first variant served."""
    data_dir = Path(data_dir)
    if not (data_dir / "api" / "experiments.sqlite").is_file():
        raise NotFound(f"no experiment data in {data_dir / 'api'}; set CITEWISE_EXPERIMENTS_FILE and serve answers")
    store = ExperimentStore(data_dir)
    try:
        rows = store.rows(name, tenant)
    finally:
        store.close()
    if not rows:
        raise NotFound(f"no answers were served under experiment {name!r}; check the name in CITEWISE_EXPERIMENTS_FILE")
    ratings, signals = _ratings(data_dir), signals_of(data_dir)
    served = set(r["variant"] for r in rows)
    order = list(dict.fromkeys([*(v for v in variants_order if v in served), *(r["variant"] for r in rows)]))
    variants = {v: _variant([r for r in rows if r["variant"] == v], ratings, signals) for v in order}
    control = order[0]
    verdicts = []
    for other in order[1:]:
        a, b = variants[control], variants[other]
        verdicts.append(_verdict("thumbs_up", True, control, other, a["thumbs_up"], b["thumbs_up"]))
        verdicts.append(_verdict("abstention", False, control, other, a["abstention"], b["abstention"]))
    return {"experiment": name, "control": control, "variants": variants, "verdict": verdicts}
