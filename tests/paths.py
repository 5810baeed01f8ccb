"""Where the shared real data lives: ``../shared`` beside the repo, or ``CITEWISE_SHARED_DIR``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CITEWISE_SHARED_DIR", REPO.parent / "shared"))
SCIFACT = SHARED / "datasets" / "scifact"
SQUAD2 = SHARED / "datasets" / "squad2" / "dev-v2.0-articles-0-7.json"
CORPUS = SHARED / "corpora" / "unstructured-example-docs"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set CITEWISE_SHARED_DIR)")
    return path


def scifact_docs(limit: int) -> list[dict[str, str]]:
    """The first ``limit`` SciFact abstracts as {_id, title, text}."""
    docs = []
    with require(SCIFACT / "corpus.jsonl").open() as fh:
        for line in fh:
            docs.append(json.loads(line))
            if len(docs) >= limit:
                break
    return docs
