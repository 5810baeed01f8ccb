"""Free space on the data dir's disk: refuse to start a write below a floor, and name a full disk clearly.

``CITEWISE_INGEST__MIN_FREE_MB`` is the floor. The ingest pipeline checks it before it starts and before
each batch it writes, so a filling disk stops a run between two committed batches (nothing half-written;
re-run to resume) instead of in the middle of a write.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from citewise.errors import ConfigError, StorageFull

_FULL_WORDS = ("no space left", "disk is full", "database or disk is full", "enospc")


def free_mb(path: Path) -> float:
    """MB free for this user on the file system holding ``path`` (its nearest existing parent)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free / 1e6


def require_free_space(path: Path, floor_mb: float) -> None:
    """``StorageFull`` when less than ``floor_mb`` MB are free where ``path`` lives (a floor of 0 disables it)."""
    if floor_mb <= 0:
        return
    free = free_mb(path)
    if free < floor_mb:
        raise StorageFull(full_message(f"only {free:.1f} MB free, below CITEWISE_INGEST__MIN_FREE_MB={floor_mb:g}"))


def is_disk_full(exc: BaseException) -> bool:
    """True for the ways a full disk surfaces: ``OSError(ENOSPC)``, SQLite's "disk is full", the index's I/O error."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(word in text for word in _FULL_WORDS)


def full_message(detail: str) -> str:
    return (
        f"the disk holding the data dir (CITEWISE_DATA_DIR) is full ({detail}); documents not yet committed "
        "stay pending and are redone: free some space (or lower CITEWISE_INGEST__MIN_FREE_MB), then run the same "
        "command again to resume"
    )


def write_json_atomic(path: Path, data: Any, indent: int = 2) -> Path:
    """Write ``data`` as JSON to ``path`` so that a reader never sees half a file (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_json_setting(path: Path, variable: str) -> Any:
    """The JSON in the file a setting names (``variable``: e.g. ``CITEWISE_API_KEYS_FILE``); ``ConfigError``
    naming the variable and the path when it is missing or not JSON."""
    where = f"{variable}={path}"
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file; create it or unset the variable") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read it as JSON ({exc})") from None
