"""Crash points (``CITEWISE_FAULT_POINT``) and the free-space floor."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from citewise import faults
from citewise.errors import ConfigError, StorageFull
from citewise.storage import free_mb, is_disk_full, require_free_space
from tests.paths import REPO


def test_fault_point_values_are_checked() -> None:
    assert faults.parse("upsert:3") == ("upsert", 3)
    for bad in ("upsert", "upsert:0", "upsert:x", "nowhere:1", ":2"):
        with pytest.raises(ConfigError, match="CITEWISE_FAULT_POINT") as err:
            faults.parse(bad)
        assert "parse, encode" in err.value.message


def test_hit_does_nothing_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.reset()
    for name in faults.POINTS:
        faults.hit(name)
    assert faults._hits == {}


def test_hit_sigkills_at_the_nth_pass_of_its_point() -> None:
    code = (
        "from citewise import faults\n"
        "for i in range(3):\n"
        "    faults.hit('encode'); faults.hit('upsert'); print(i, flush=True)\n"
    )
    env = {**os.environ, faults.ENV: "upsert:2", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.split() == ["0"]  # killed before the second upsert: nothing after it ran


def test_free_space_floor(tmp_path: Path) -> None:
    require_free_space(tmp_path / "not-yet" / "there", 0)  # 0 disables the check
    require_free_space(tmp_path, 0.001)
    with pytest.raises(StorageFull, match="CITEWISE_INGEST__MIN_FREE_MB=1e"):
        require_free_space(tmp_path, 1e15)
    assert free_mb(tmp_path / "missing" / "child") == pytest.approx(free_mb(tmp_path), rel=0.01)


def test_full_disk_errors_are_recognised() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert is_disk_full(RuntimeError("Service internal error: No space left on device (os error 28)"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
