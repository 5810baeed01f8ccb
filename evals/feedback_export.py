"""Feedback → an eval set: ``citewise eval export-feedback`` writes the API's rated answers as QA JSONL.

From ``<data_dir>/api/feedback.sqlite`` (one tenant): a thumbs-down with a ``correction`` becomes a question whose
``reference`` is the correction; a thumbs-up becomes a question whose ``reference`` is the answer given (or, for an
approved abstention, ``answerable: false``). A thumbs-down without a correction says what is wrong but not what is
right, so it is left out. Questions are deduplicated by their normalized form (``api.cache.normalize``): a
correction beats a thumbs-up, a later rating beats an earlier one of the same kind. Every text goes through
``evals.pii.mask_pii``. Each line: ``id``, ``question``, ``reference``, ``reference_contexts`` (the quotes the
answer cited), ``answerable``, ``answer`` (what was said), ``correction``, ``rating``, ``variant`` (model and
prompt@version), ``feedback_id`` — ``citewise eval answers --qa`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.cache import normalize
from api.feedback import FeedbackStore
from citewise.errors import InvalidRequest
from evals.pii import mask_pii

PAGE = 1000
MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")  # [1], [1, 2]: citation numbers of the answer given


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    written: int
    thumbs_up: int
    corrections: int
    skipped_no_correction: int
    duplicates: int

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "written": self.written,
            "thumbs_up": self.thumbs_up,
            "corrections": self.corrections,
            "skipped_no_correction": self.skipped_no_correction,
            "duplicates": self.duplicates,
        }


def _item(row: dict[str, Any], tenant: str) -> dict[str, Any]:
    correction = (row.get("correction") or "").strip()
    up = row["rating"] == "up"
    abstained = bool(row["abstained"]) and up
    given = MARKERS.sub("", row["answer"]).strip()
    reference = None if abstained else mask_pii(correction if not up or correction else given)
    question = mask_pii(row["question"].strip())
    digest = hashlib.sha256(f"{tenant}\n{normalize(row['question'])}".encode()).hexdigest()[:16]
    return {
        "id": f"fb-{digest}",
        "question": question,
        "reference": reference,
        "reference_contexts": [mask_pii(c.get("quote", "")) for c in row["citations"] if c.get("quote")],
        "answerable": not abstained,
        "answer": mask_pii(row["answer"]),
        "correction": mask_pii(correction) or None,
        "rating": row["rating"],
        "variant": {"model": row["model"], "prompt": row["prompt"]},
        "feedback_id": row["feedback_id"],
    }


def export_feedback(data_dir: Path | str, tenant: str, out: Path) -> ExportSummary:
    """Write the eval set of ``tenant``'s feedback to ``out`` (JSONL); ``InvalidRequest`` when there is none."""
    source = Path(data_dir) / "api" / "feedback.sqlite"
    if not source.is_file():
        raise InvalidRequest(
            f"no feedback store at {source}: run the API (citewise serve) and rate answers (POST /v1/feedback) first, "
            "or point CITEWISE_DATA_DIR at the server's data dir"
        )
    store = FeedbackStore(data_dir)
    try:
        rows: list[dict[str, Any]] = []
        offset = 0
        while page := store.list(tenant, offset, PAGE):
            rows += page
            offset += len(page)
    finally:
        store.close()
    chosen: dict[str, tuple[int, dict[str, Any]]] = {}  # normalized question -> (rank, item)
    skipped = duplicates = 0
    for row in rows:  # oldest first: a later rating of the same rank replaces an earlier one
        has_correction = bool((row.get("correction") or "").strip())
        if row["rating"] == "down" and not has_correction:
            skipped += 1
            continue
        rank = 1 if has_correction else 0
        key = normalize(row["question"])
        if key in chosen:
            duplicates += 1
            if chosen[key][0] > rank:
                continue
        chosen[key] = (rank, _item(row, tenant))
    if not chosen:
        raise InvalidRequest(
            f"tenant {tenant!r} has no exportable feedback ({len(rows)} rated answers, {skipped} thumbs-down without "
            "a correction): rate answers up, or down with a correction, then export again"
        )
    items = [item for _, item in chosen.values()]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return ExportSummary(
        out,
        len(items),
        thumbs_up=sum(1 for item in items if item["rating"] == "up" and not item["correction"]),
        corrections=sum(1 for item in items if item["correction"]),
        skipped_no_correction=skipped,
        duplicates=duplicates,
    )
