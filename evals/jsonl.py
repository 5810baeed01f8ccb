"""JSON Lines input of the evaluation sets (BEIR corpus and queries, QA sets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` per non-blank line; a line that is not a JSON object raises, naming it."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidRequest(f"{path}:{number} is not valid JSON ({exc.msg}); fix or remove the line") from None
            if not isinstance(row, dict):
                raise InvalidRequest(f"{path}:{number} is not a JSON object; each line must be one {{...}}")
            yield number, row
