"""LLM spend per tenant and API key, and the budgets that bound it (``CITEWISE_BUDGETS__*``).

Spend is the estimated cost of each answer (``generation.usage.price`` over the price table
``CITEWISE_GENERATION__PRICES``), summed in ``<data_dir>/api/usage.sqlite`` per UTC day or month
(``CITEWISE_BUDGETS__PERIOD``). A limit applies to a tenant (``TENANTS``, else ``DEFAULT``) and to a key
(``KEYS``, by key id); the tighter state wins. Over ``soft_usd`` an answer comes from the extractive answerer
and says so (``budget`` in the answer); over ``hard_usd`` ``POST /v1/ask`` is refused with 429
``budget_exceeded`` and ``Retry-After`` until the period resets. Cached answers cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.errors import ServerBusy
from citewise.settings import BudgetLimit, BudgetSettings
from citewise.transactions import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    period TEXT NOT NULL,
    tenant TEXT NOT NULL,
    key_id TEXT NOT NULL,
    answers INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    PRIMARY KEY (period, tenant, key_id)
);
"""


class BudgetExceeded(ServerBusy):
    """Over the hard budget: 429 with ``Retry-After`` (seconds to the period's reset)."""

    code = "budget_exceeded"


def period_of(now: datetime, period: str) -> tuple[str, datetime]:
    """The period's name (``2026-12`` or ``2026-12-04``) and when the next one starts (UTC)."""
    now = now.astimezone(UTC)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%d"), datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return first.strftime("%Y-%m"), nxt


class UsageStore(SqliteStore):
    """Durable spend counters: one row per (period, tenant, key id)."""

    def __init__(self, data_dir: Path | str) -> None:
        super().__init__(Path(data_dir) / "api" / "usage.sqlite", _SCHEMA, synchronous="FULL")

    def add(self, period: str, tenant: str, key_id: str, prompt: int, completion: int, cost_usd: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO spend VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT (period, tenant, key_id) DO UPDATE SET"
                " answers = answers + 1, prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
                " completion_tokens = completion_tokens + excluded.completion_tokens,"
                " cost_usd = cost_usd + excluded.cost_usd",
                (period, tenant, key_id, max(prompt, 0), max(completion, 0), max(cost_usd, 0.0)),
            )

    def spent(self, period: str, tenant: str, key_id: str | None = None) -> float:
        sql, args = "SELECT COALESCE(SUM(cost_usd), 0) FROM spend WHERE period = ? AND tenant = ?", [period, tenant]
        if key_id is not None:
            sql += " AND key_id = ?"
            args.append(key_id)
        with self._lock:
            return float(self._db.execute(sql, args).fetchone()[0])

    def rows(self, period: str | None = None) -> list[dict[str, Any]]:
        """Every counter (of one period, or all), newest period first."""
        sql = "SELECT period, tenant, key_id, answers, prompt_tokens, completion_tokens, cost_usd FROM spend"
        args: list[str] = []
        if period is not None:
            sql += " WHERE period = ?"
            args.append(period)
        with self._lock:
            found = self._db.execute(sql + " ORDER BY period DESC, tenant, key_id", args).fetchall()
        keys = ("period", "tenant", "key_id", "answers", "prompt_tokens", "completion_tokens", "cost_usd")
        return [dict(zip(keys, row, strict=True)) for row in found]


@dataclass(frozen=True)
class BudgetState:
    """Where a caller stands: ``ok``, ``soft`` (answers fall back to extractive) or ``hard`` (refused)."""

    state: str
    scope: str = ""  # "tenant acme" or "key 1a2b3c4d": the budget that decided
    spent_usd: float = 0.0
    limit_usd: float | None = None
    resets_at: str = ""

    def json(self) -> dict[str, Any]:
        message = ""
        if self.state == "soft":
            message = (
                f"the {self.scope} is over its soft budget (${self.spent_usd:.4f} of ${self.limit_usd:g} spent this "
                f"period): this answer comes from the extractive answerer; the budget resets at {self.resets_at}"
            )
        return {
            "state": self.state,
            "scope": self.scope,
            "spent_usd": round(self.spent_usd, 6),
            "limit_usd": self.limit_usd,
            "resets_at": self.resets_at,
            "message": message,
        }


_RANK = {"ok": 0, "soft": 1, "hard": 2}


class Budgets:
    def __init__(self, settings: BudgetSettings, data_dir: Path | str, clock: Any = None) -> None:
        self.settings = settings
        self.store = UsageStore(data_dir)
        self._clock = clock or (lambda: datetime.now(UTC))

    def close(self) -> None:
        self.store.close()

    @property
    def active(self) -> bool:
        s = self.settings
        return bool(s.default or s.tenants or s.keys)

    def period(self) -> tuple[str, datetime]:
        return period_of(self._clock(), self.settings.period)

    def record(self, tenant: str, key_id: str, prompt: int, completion: int, cost_usd: float) -> None:
        self.store.add(self.period()[0], tenant, key_id, prompt, completion, cost_usd)

    def standing(self, tenant: str, key_id: str | None = None) -> BudgetState:
        """Where the tenant (and key) stands now: the tightest of its budgets (``hard`` included)."""
        name, resets = self.period()
        resets_at = resets.isoformat().replace("+00:00", "Z")
        limits: list[tuple[str, BudgetLimit, float]] = []
        tenant_limit = self.settings.tenants.get(tenant, self.settings.default)
        if tenant_limit is not None:
            limits.append((f"tenant {tenant}", tenant_limit, self.store.spent(name, tenant)))
        key_limit = self.settings.keys.get(key_id or "")
        if key_limit is not None:
            limits.append((f"key {key_id}", key_limit, self.store.spent(name, tenant, key_id)))
        worst = BudgetState("ok", resets_at=resets_at)
        for scope, limit, spent in limits:
            for state, bound in (("hard", limit.hard_usd), ("soft", limit.soft_usd)):
                if bound is not None and spent >= bound and _RANK[state] > _RANK[worst.state]:
                    worst = BudgetState(state, scope, spent, bound, resets_at)
        return worst

    def check(self, tenant: str, key_id: str) -> BudgetState:
        """The caller's state now; ``BudgetExceeded`` (429) over a hard budget."""
        if not self.active:
            return BudgetState("ok")
        worst = self.standing(tenant, key_id)
        if worst.state == "hard":
            wait = max(1, int((self.period()[1] - self._clock()).total_seconds()))
            raise BudgetExceeded(
                f"the {worst.scope} has spent ${worst.spent_usd:.4f} of its hard budget of ${worst.limit_usd:g} "
                f"this {self.settings.period}; answers resume at {worst.resets_at} (or ask an admin to raise "
                "CITEWISE_BUDGETS__*)",
                wait,
            )
        return worst
