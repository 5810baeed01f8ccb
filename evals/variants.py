"""``citewise eval answers --variants A,B``: the same QA set answered by each variant of the experiment in
``CITEWISE_EXPERIMENTS_FILE`` (api/experiments.py), scored the same way, side by side: a prompt, model or k change
judged before it ships. A variant's ``llm``, ``prompt``, ``k``, ``rerank`` and ``mode`` replace the command's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest
from citewise.settings import Settings


def compare_variants(
    settings: Settings,
    qa: Path,
    names: str,
    *,
    llm: str | None,
    k: int,
    progress: Callable[[str, int, int], None] | None = None,
    **common: Any,
) -> dict[str, Any]:
    """``{"variants": {name: report}, "metrics": {metric: {name: value}}}`` for the named variants."""
    from api.experiments import Experiment
    from evals.answers_eval import evaluate_answers

    experiment = Experiment.load(settings.experiments_file)
    if experiment is None:
        raise InvalidRequest("--variants needs CITEWISE_EXPERIMENTS_FILE: the experiment whose variants to compare")
    known = {v.name: v for v in experiment.variants}
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if len(chosen) < 2 or unknown or len(set(chosen)) != len(chosen):
        raise InvalidRequest(
            f"--variants {names!r}: name two or more different variants of {experiment.name!r} "
            f"({', '.join(known)}){'; unknown: ' + ', '.join(unknown) if unknown else ''}"
        )
    reports: dict[str, Any] = {}
    for name in chosen:
        o = known[name].overrides

        def step(done: int, total: int, name: str = name) -> None:
            if progress is not None:
                progress(name, done, total)

        result = evaluate_answers(
            settings,
            qa,
            llm=o.get("llm", llm),
            k=o.get("k", k),
            prompt=o.get("prompt"),
            rerank=o.get("rerank"),
            mode=o.get("mode"),
            progress=step,
            **common,
        )
        reports[name] = {**result.as_json(), "overrides": o}
    metrics = sorted({m for r in reports.values() for m in r["metrics"]})
    table = {m: {n: reports[n]["metrics"].get(m) for n in chosen} for m in metrics}
    return {"kind": "answers-variants", "experiment": experiment.name, "variants": reports, "metrics": table}
