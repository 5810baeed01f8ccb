"""A full disk during ingest, on a small tmpfs holding the data dir (needs root to mount; skipped otherwise).

1. Below the free-space floor (``CITEWISE_INGEST__MIN_FREE_MB``) ``citewise ingest`` refuses to write: exit 1,
   a message naming the setting and what to do, no traceback, nothing pending in the docstore.
2. With the floor off, the disk really fills mid-run. The embedded index writes through memory-mapped files, and
   the kernel answers a write to a mapped page it cannot back with SIGBUS: the process dies as under kill -9
   (or, when SQLite or a plain write hits the full disk first, exits 1 with the same clear message).
3. Either way, once space is freed a re-run finishes, ``index check`` is clean, and the index equals a clean run.

Any process that opens the embedded index on an almost full tmpfs may get SIGBUS (even to read: opening
maps files); this test only reads the docstore (SQLite) until the space is freed.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import harness
from tests.faults.harness import Launcher
from tests.paths import CORPUS, require

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.integration]

DISK_MB = 300  # on tmpfs the index of this corpus takes ~100 MB (the empty collection ~22 MB)


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a {DISK_MB} MB tmpfs (needs root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_kb: int) -> Path:
    """A ballast file that leaves about ``leave_kb`` KB free on ``disk``."""
    ballast = disk / "ballast"
    ballast.unlink(missing_ok=True)
    free_kb = shutil.disk_usage(disk).free // 1024
    subprocess.run(["fallocate", "-l", f"{max(0, free_kb - leave_kb)}k", str(ballast)], check=True)
    return ballast


def test_full_disk_stops_cleanly_and_a_rerun_recovers(
    tmp_path: Path, small_disk: Path, launcher: Launcher, dense_encoder: Any, bm25_encoder: Any
) -> None:
    require(CORPUS)
    corpus = tmp_path / "corpus"
    harness.write_v1(corpus)
    expected_dir = tmp_path / "expected"
    assert harness.ingest(expected_dir, corpus, dense_encoder, bm25_encoder).ok
    expected_points, expected_records = harness.snapshot(expected_dir)

    data = small_disk / "data"
    first = sorted(corpus.iterdir())[0]
    args = ["ingest", "--workers", "0"]
    rc, out = launcher.run([*args, str(first)], harness.cli_env(data), tmp_path, tmp_path / "first.log")
    assert rc == 0, out  # the collection exists; the disk still has room

    _fill(small_disk, leave_kb=4 * 1024)  # 4 MB free, under an 8 MB floor
    env = harness.cli_env(data, CITEWISE_INGEST__MIN_FREE_MB="8")
    rc, out = launcher.run([*args, str(corpus)], env, tmp_path, tmp_path / "floor.log")
    assert rc == 1, out
    assert "CITEWISE_INGEST__MIN_FREE_MB=8" in out and "free some space" in out and "Traceback" not in out
    assert harness.docstore_counts(data) == (1, 0)  # nothing written, nothing pending (read from SQLite only:
    # opening the index itself on an almost full tmpfs can SIGBUS, see the module docstring)

    ballast = _fill(small_disk, leave_kb=40)  # floor off: the disk really fills during the run
    rc, out = launcher.run([*args, str(corpus)], harness.cli_env(data), tmp_path, tmp_path / "full.log")
    assert rc in (-signal.SIGBUS, 1), f"rc {rc}:\n{out[-2000:]}"
    complete, pending = harness.docstore_counts(data)
    assert complete + pending <= len(expected_records)
    if rc == 1:
        assert "disk holding the data dir" in out and "Traceback" not in out, out
    print(f"\nfull disk, floor off: {'SIGBUS' if rc < 0 else 'exit 1'}; {complete} complete, {pending} pending")

    ballast.unlink()
    rc, out = launcher.run([*args, str(corpus)], harness.cli_env(data), tmp_path, tmp_path / "rerun.log")
    assert rc == 0, out
    rc, out = launcher.run(["index", "check", "--json"], harness.cli_env(data), tmp_path, tmp_path / "check.log")
    report_json = json.loads(out.strip().splitlines()[-1])
    assert rc == 0 and report_json["clean"] and report_json["lost"] == report_json["duplicated"] == 0, out
    points, records = harness.snapshot(data)
    assert records == expected_records and points == expected_points


def test_the_free_space_floor_refuses_to_start_writing(tmp_path: Path, launcher: Launcher) -> None:
    """No mount needed: a floor above any disk's free space stops the run before anything is written."""
    require(CORPUS)
    corpus = tmp_path / "corpus"
    harness.write_v1(corpus)
    data = tmp_path / "data"
    env = harness.cli_env(data, CITEWISE_INGEST__MIN_FREE_MB="1e12")
    rc, out = launcher.run(["ingest", str(corpus), "--workers", "0"], env, tmp_path, tmp_path / "floor.log")
    assert rc == 1, out
    assert "storage_full" in out and "CITEWISE_INGEST__MIN_FREE_MB=1e+12" in out and "Traceback" not in out, out
    assert harness.docstore_counts(data) == (0, 0)
    assert not (data / "index" / "citewise").exists()  # the collection was not even created
