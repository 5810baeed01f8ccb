"""A/B experiments on ``POST /v1/ask``: variants of the answer settings, assigned sticky per API key.

``CITEWISE_EXPERIMENTS_FILE`` names a JSON file with the running experiment::

    {"name": "prompt-v2", "variants": [
        {"name": "control", "share": 0.5, "prompt": "answer@1"},
        {"name": "new", "share": 0.5, "prompt": "answer@2", "k": 8}]}

Each variant overrides some of ``llm``, ``prompt``, ``k``, ``rerank`` and ``mode`` (retrieval: hybrid, dense,
sparse) — what a request leaves unset; a request that sets a field itself keeps it; shares are > 0 and sum to 1.
A caller's variant is fixed by a hash of the experiment name and its key id, so the same key always gets the same
variant; with ``"sticky": "conversation"`` a conversation's messages are assigned by the conversation's id instead
(each conversation keeps one variant, a key's conversations spread over the variants; ``/v1/ask`` stays per key).
Every answer served is recorded in ``<data_dir>/api/experiments.sqlite`` (variant, abstained, sentences and
unsupported ones, latency, tokens, cost), and the answer JSON carries ``experiment: {"name", "variant"}``; feedback
joins by ``answer_id``.
``citewise experiments report NAME`` compares the variants (``api.experiment_report``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from citewise.errors import ConfigError
from citewise.index import Mode
from citewise.storage import read_json_setting
from citewise.transactions import SqliteStore
from citewise.types import NAME, Answer

OVERRIDES = ("llm", "prompt", "k", "rerank", "mode")
MODES: tuple[str, ...] = get_args(Mode)
STICKY = ("key", "conversation")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    variant TEXT NOT NULL,
    tenant TEXT NOT NULL,
    key_id TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    sentences INTEGER NOT NULL,
    unsupported INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    cached INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_experiment ON answers (experiment, variant);
"""


@dataclass(frozen=True)
class Variant:
    name: str
    share: float
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Experiment:
    name: str
    variants: tuple[Variant, ...]
    sticky: str = "key"  # or "conversation": a conversation's messages are assigned by its id

    def assign(self, key_id: str, conversation_id: str | None = None) -> Variant:
        """The caller's variant: sticky, from sha256(experiment name, key id — or the conversation id when the
        experiment is sticky per conversation and the request is a conversation's message) onto the shares."""
        unit = conversation_id if self.sticky == "conversation" and conversation_id is not None else key_id
        digest = hashlib.sha256(f"{self.name}\n{unit}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        edge = 0.0
        for variant in self.variants:
            edge += variant.share
            if point < edge:
                return variant
        return self.variants[-1]

    @classmethod
    def load(cls, path: Path | None) -> Experiment | None:
        """The experiment in ``path`` (None: no experiment); ``ConfigError`` says what is wrong with the file."""
        if path is None:
            return None
        where = f"CITEWISE_EXPERIMENTS_FILE={path}"
        data = read_json_setting(path, "CITEWISE_EXPERIMENTS_FILE")
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not NAME.match(data["name"]):
            raise ConfigError(f'{where}: expected {{"name": "<1-64 letters, digits, . _ ->", "variants": [...]}}')
        raw = data.get("variants")
        if not isinstance(raw, list) or len(raw) < 2:
            raise ConfigError(f"{where}: 'variants' must list at least two variants")
        variants = [_variant(where, n, entry) for n, entry in enumerate(raw, 1)]
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: variant names must be unique; got {names}")
        total = sum(v.share for v in variants)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"{where}: the shares add up to {total:g}; make them add up to 1")
        sticky = data.get("sticky", "key")
        if sticky not in STICKY:
            raise ConfigError(f"{where}: 'sticky' is {sticky!r}; use one of {', '.join(STICKY)}")
        return cls(data["name"], tuple(variants), sticky)


def _variant(where: str, n: int, entry: Any) -> Variant:
    label = f"{where}: variant {n}"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not NAME.match(entry["name"]):
        raise ConfigError(f'{label}: expected {{"name": "<1-64 letters, digits, . _ ->", "share": 0.5, ...}}')
    share = entry.get("share")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ConfigError(f"{label} ({entry['name']}): share must be a number in (0, 1]; got {share!r}")
    unknown = sorted(set(entry) - {"name", "share", *OVERRIDES})
    if unknown:
        raise ConfigError(f"{label} ({entry['name']}): unknown field(s) {unknown}; a variant may set {OVERRIDES}")
    overrides = {k: entry[k] for k in OVERRIDES if entry.get(k) is not None}
    checks = {
        "llm": lambda v: isinstance(v, str) and 0 < len(v) <= 200,
        "prompt": lambda v: isinstance(v, str) and 0 < len(v) <= 100,
        "k": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 50,
        "rerank": lambda v: isinstance(v, bool),
        "mode": lambda v: v in MODES,
    }
    for key, value in overrides.items():
        if not checks[key](value):
            raise ConfigError(
                f"{label} ({entry['name']}): {key}={value!r} is invalid (llm: PROVIDER[:MODEL], prompt: NAME@VERSION, "
                f"k: 1..50, rerank: true/false, mode: {'/'.join(MODES)})"
            )
    return Variant(entry["name"], float(share), overrides)


class ExperimentStore(SqliteStore):
    """Answers served under an experiment (``<data_dir>/api/experiments.sqlite``)."""

    def __init__(self, data_dir: Path | str) -> None:
        super().__init__(Path(data_dir) / "api" / "experiments.sqlite", _SCHEMA, synchronous="FULL")

    def record(self, experiment: str, variant: str, tenant: str, key_id: str, answer: Answer, cached: bool) -> None:
        shown = [s for s in answer.sentences if s.shown]
        unsupported = sum(1 for s in shown if not s.supported)
        usage = answer.usage
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer.answer_id,
                    experiment,
                    variant,
                    tenant,
                    key_id,
                    int(answer.abstained),
                    len(shown),
                    unsupported,
                    float(answer.timings_ms.get("total", 0.0)),
                    usage.prompt_tokens + usage.completion_tokens,
                    usage.cost_usd,
                    int(cached),
                    time.time(),
                ),
            )

    def rows(self, experiment: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """The answers of ``experiment`` (of one tenant, or all), oldest first."""
        keys = ("answer_id", "variant", "abstained", "sentences", "unsupported", "latency_ms", "tokens", "cost_usd")
        where, args = "experiment = ?", [experiment]
        if tenant is not None:
            where += " AND tenant = ?"
            args.append(tenant)
        with self._lock:
            found = self._db.execute(
                f"SELECT {', '.join(keys)} FROM answers WHERE {where} ORDER BY created_at", args
            ).fetchall()
        return [dict(zip(keys, row, strict=True)) for row in found]
