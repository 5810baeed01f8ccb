"""The arrows of DESIGN.md are an import-linter contract (``make lint``): it holds here and breaks on a wrong way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("citewise", "ingest", "retrieval", "generation", "api", "evals")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail("lint-imports is missing: `make install` installs import-linter (the dev extra)")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for name in PACKAGES:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "static", "prompts"))
    return root


def test_the_repo_keeps_its_arrows() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong", "contract"),
    [
        ("retrieval/fusion.py", "import api.schemas", "stages never import api"),
        ("ingest/chunking.py", "from generation import text", "stages in order"),
        ("citewise/types.py", "import retrieval", "the spine imports no stage"),
    ],
)
def test_a_wrong_way_import_breaks_lint(tmp_path: Path, module: str, wrong: str, contract: str) -> None:
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text() + f"\n\ndef _wrong_way() -> None:\n    {wrong}  # noqa\n")
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    assert contract in result.stdout and "BROKEN" in result.stdout, result.stdout
