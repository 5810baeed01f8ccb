"""monitoring/grafana-dashboard.json queries only metrics the API exports (api/metrics.py)."""

from __future__ import annotations

import json
import re

from api.metrics import Metrics
from tests.paths import REPO

SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def test_every_dashboard_query_names_an_exported_metric() -> None:
    dashboard = json.loads((REPO / "monitoring" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    families = {family.name for family in Metrics().registry.collect()}
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for expr in exprs:
        for name in re.findall(r"citewise_[a-z_]+", expr):
            base = next((name.removesuffix(s) for s in SUFFIXES if name.endswith(s)), name)
            assert base in families, f"{name} in {expr!r} is not exported; known: {sorted(families)}"
