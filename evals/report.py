"""Reports a person can read: one self-contained HTML file with plots (matplotlib, base64 PNG) and tables.

Input is the JSON report of ``citewise eval retrieval`` or ``citewise eval answers`` (``kind`` tells which),
optionally with earlier runs to compare against (e.g. the gate's baseline).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
.rel{color:#0a7d2c;font-weight:600} .bad{color:#b00020;font-weight:600} .ok{color:#0a7d2c;font-weight:600}
blockquote{margin:2px 0 6px 0;padding-left:8px;border-left:3px solid #ccc;color:#444}
img{max-width:100%} .muted{color:#777}
"""


def bar_chart(title: str, groups: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str = "") -> str:
    """A grouped bar chart as a base64 PNG: one group per entry of ``groups``, one bar per series."""
    from matplotlib.figure import Figure

    crowded = len(groups) > 6
    fig = Figure(figsize=(min(14.0, max(6.0, 0.45 * len(groups) * max(1, len(series)))), 4.4 if crowded else 3.6))
    ax = fig.subplots()
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=name)
        if not crowded:
            ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(
        range(len(groups)), list(groups), fontsize=8, rotation=35 if crowded else 0, ha="right" if crowded else "center"
    )
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(png: str, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{png}">'


def _num(value: Any) -> str:
    return f'<td class="num">{value:.4f}</td>' if isinstance(value, int | float) else f"<td>{escape(str(value))}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _compare(report: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]]) -> str:
    """Current vs earlier runs, metric by metric (plot and table)."""
    if not others:
        return ""
    current = report.get("metrics", {})
    names = sorted(current)  # the metrics of this run (the gate names the ones that went missing)
    series = {label: [float(o.get("metrics", {}).get(n, 0.0)) for n in names] for label, o in others.items()}
    series["this run"] = [float(current.get(n, 0.0)) for n in names]
    rows = [
        [
            f"<td>{escape(n)}</td>",
            *(_num(o.get("metrics", {}).get(n, "-")) for o in others.values()),
            _num(current.get(n, "-")),
        ]
        for n in names
    ]
    return (
        "<h2>Compared with earlier runs</h2>"
        + _img(bar_chart("this run vs earlier runs", names, series), "comparison")
        + _table(["metric", *others, "this run"], rows)
    )


def _gate(report: Mapping[str, Any]) -> str:
    gate = report.get("gate")
    if not gate:
        return ""
    verdict = '<span class="ok">passed</span>' if gate["passed"] else '<span class="bad">FAILED</span>'
    rows = [
        [
            f"<td>{escape(r['metric'])}</td>",
            _num(r["baseline"]),
            _num(r["current"] if r["current"] is not None else "missing"),
        ]
        for r in gate["regressions"]
    ]
    table = _table(["metric", "baseline", "this run"], rows) if rows else ""
    return f"<h2>Gate (max drop {gate['max_drop']}): {verdict}</h2>{table}"


def _retrieval(report: Mapping[str, Any]) -> str:
    modes: Mapping[str, Any] = report["modes"]
    names = list(next(iter(modes.values()))["metrics"]) if modes else []
    quality = {m: [float(v["metrics"][n]) for n in names] for m, v in modes.items()}
    latency = {p: [float(v["latency_ms"][p]) for v in modes.values()] for p in ("p50", "p95")}
    ds = report["dataset"]
    parts = [
        f"<h1>Retrieval on {escape(str(ds['name']))} ({escape(str(ds['split']))})</h1>",
        f"<p>{ds['queries']} queries, {ds['documents']} documents, collection <code>{escape(report['collection'])}"
        f"</code>; ingest: {escape(str(report['ingest']))}</p>",
        _img(bar_chart("quality by mode", names, quality), "quality by mode"),
        _img(bar_chart("latency by mode (ms)", list(modes), latency, "ms"), "latency by mode"),
        _table(
            ["mode", *names, "p50 ms", "p95 ms", "rerank"],
            [
                [
                    f"<td>{escape(m)}</td>",
                    *(_num(v["metrics"][n]) for n in names),
                    _num(v["latency_ms"]["p50"]),
                    _num(v["latency_ms"]["p95"]),
                    f"<td>{escape(str(v['rerank_status']))}</td>",
                ]
                for m, v in modes.items()
            ],
        ),
    ]
    rows = []
    key = next((n for n in names if n.startswith("ndcg@")), names[0] if names else "")
    for qid, q in report.get("per_query", {}).items():
        relevant = set(q["relevant"])
        cells = [f"<td>{escape(qid)}</td><td>{escape(q['query'])}</td><td>{escape(', '.join(q['relevant']))}</td>"]
        for m in modes:
            got = q["modes"].get(m, {})
            top = ", ".join(
                f'<span class="rel">{escape(d)}</span>' if d in relevant else escape(d) for d in got.get("top", [])
            )
            cells.append(f'<td class="num">{got.get("metrics", {}).get(key, 0.0):.3f}</td><td>{top}</td>')
        rows.append(cells)
    headers = ["qid", "query", "relevant"] + [h for m in modes for h in (f"{m} {key}", f"{m} top")]
    parts += ["<h2>Per query (relevant documents in green)</h2>", _table(headers, rows)]
    return "".join(parts)


def _citations(citations: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for c in citations:
        mark = ""
        if "supports" in c:
            mark = (
                ' <span class="ok">supports</span>' if c["supports"] else ' <span class="bad">does not support</span>'
            )
        if c.get("exact") is False:
            mark += ' <span class="bad">quote not in source</span>'
        out.append(
            f"<div>[{c.get('n')}] {escape(str(c.get('title') or c.get('source') or c.get('doc_id', '')))}{mark}"
            f"<blockquote>{escape(str(c.get('quote', '')))}</blockquote></div>"
        )
    return "".join(out) or '<span class="muted">no citations</span>'


def _answers(report: Mapping[str, Any]) -> str:
    metrics: Mapping[str, float] = report.get("metrics", {})
    names = [n for n, v in metrics.items() if isinstance(v, int | float)]
    parts = [
        f"<h1>Answers on {escape(str(report.get('dataset', {}).get('name', 'QA set')))}</h1>",
        f"<p>{escape(str(report.get('dataset', {})))}; judge: {escape(str(report.get('judge') or 'none'))}</p>",
    ]
    if names:
        parts.append(_img(bar_chart("answer metrics", names, {"this run": [metrics[n] for n in names]}), "metrics"))
        parts.append(_table(["metric", "value"], [[f"<td>{escape(n)}</td>", _num(metrics[n])] for n in names]))
    for note in report.get("notes", []):
        parts.append(f'<p class="muted">{escape(str(note))}</p>')
    rows = []
    for q in report.get("per_question", []):
        scores = "<br>".join(
            f"{escape(k)}: {v:.3f}" for k, v in q.get("scores", {}).items() if isinstance(v, int | float)
        )
        answer = escape(q.get("answer", "")) + (' <span class="muted">(abstained)</span>' if q.get("abstained") else "")
        rows.append(
            [
                f"<td>{escape(q.get('question', ''))}</td>",
                f"<td>{answer}</td>",
                f"<td>{escape(str(q.get('reference') or ''))}</td>",
                f"<td>{_citations(q.get('citations', []))}</td>",
                f"<td>{scores}</td>",
            ]
        )
    parts += ["<h2>Per question</h2>", _table(["question", "answer", "reference", "citations", "scores"], rows)]
    return "".join(parts)


def render_html(report: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    body = _retrieval(report) if report.get("kind") == "retrieval" else _answers(report)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>citewise eval</title><style>{STYLE}</style>'
        f"</head><body>{_gate(report)}{body}{_compare(report, others or {})}</body></html>"
    )


def write_html(
    path: str | Path, report: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report, others), encoding="utf-8")
    return out
