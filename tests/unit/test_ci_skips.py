"""No silent skips in CI: under ``CI=true`` a test that skips (here: ../shared hidden) fails and says why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NEEDS_SHARED = "tests/unit/test_ingest_loaders.py::test_corrupt_pdf"


def _run(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci, "CITEWISE_SHARED_DIR": str(tmp_path / "no-shared-here")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", NEEDS_SHARED],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_skip_fails_under_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "skipped under CI=true" in result.stdout and "shared data not found" in result.stdout


def test_a_skip_stays_a_skip_outside_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, "false")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
