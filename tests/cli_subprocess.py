"""Run the real ``citewise`` CLI in a fresh interpreter and report what it imported (start-up and cache tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.paths import REPO

KEPT_ENV = ("CITEWISE_SHARED_DIR", "CITEWISE_CACHE_DIR")  # the machine's, not a test's settings

# The CLI's own entry point, in-process, then the top-level modules it imported (the exit code is the CLI's).
WRAPPER = """
import json, sys
from citewise.cli import app
try:
    app(sys.argv[1:], prog_name="citewise")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
print("\\n" + json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


@dataclass(frozen=True)
class CliRun:
    code: int
    modules: set[str]
    stdout: str
    stderr: str


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without its CITEWISE_* settings, with ``data_dir`` and ``extra`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEWISE_") or k in KEPT_ENV}
    env.update({"CITEWISE_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), **extra})
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-c", WRAPPER, *args]


def parse_run(done: subprocess.CompletedProcess[str]) -> CliRun:
    assert done.returncode == 0, done.stderr
    head, _, last = done.stdout.rstrip().rpartition("\n")
    report = json.loads(last)
    return CliRun(int(report["code"] or 0), set(report["modules"]), head, done.stderr)


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliRun:
    """``citewise *args`` in ``cwd`` (data dir ``cwd/data`` unless ``env`` says otherwise)."""
    done = subprocess.run(
        cli_command(*args), capture_output=True, text=True, env=env or cli_env(cwd / "data"), cwd=cwd, timeout=timeout
    )
    return parse_run(done)
