"""Start-up stays light: the everyday commands run the real CLI without importing the heavy libraries.

Each case runs ``citewise <args>`` in a fresh interpreter and lists the modules it imported; the heavy ones
(torch, transformers, llama-index, unstructured, ONNX Runtime, qdrant-client ...) cost seconds to import and
belong to the commands that use them (docs/cli.md, "Start-up"). Not a timing test: imports are what we control.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "llama_index",
    "unstructured",
    "onnxruntime",
    "onnx",
    "qdrant_client",
    "tokenizers",
    "huggingface_hub",
    "sqlalchemy",
    "scipy",
    "sklearn",
    "pandas",
    "fastapi",
    "ray",
)

# Run the CLI's own entry point in-process, then print what it imported (the exit code is the CLI's).
WRAPPER = """
import json, sys
from citewise.cli import app
try:
    app(sys.argv[1:], prog_name="citewise")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def run_cli(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEWISE_") or k == "CITEWISE_SHARED_DIR"}
    env.update({"CITEWISE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)})
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return int(report["code"] or 0), set(report["modules"])


@pytest.mark.parametrize(
    "args",
    [("--help",), ("config", "show"), ("config", "show", "--json"), ("documents", "list"), ("index", "stats")],
    ids=lambda a: " ".join(a),
)
def test_everyday_commands_import_no_heavy_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, modules = run_cli(tmp_path, *args)
    assert code == 0
    assert not modules & set(HEAVY), f"`citewise {' '.join(args)}` imported {sorted(modules & set(HEAVY))}"
