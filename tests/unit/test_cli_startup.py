"""Start-up stays light: the everyday commands run the real CLI without importing the heavy libraries.

Each case runs ``citewise <args>`` in a fresh interpreter and lists the modules it imported; the heavy ones
(torch, transformers, llama-index, unstructured, ONNX Runtime, qdrant-client ...) cost seconds to import and
belong to the commands that use them (README.md, "Commands"). Not a timing test: imports are what we control.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_subprocess import run_cli

REPO = Path(__file__).resolve().parents[2]
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


@pytest.mark.parametrize(
    "args",
    [("--help",), ("config", "show"), ("config", "show", "--json"), ("documents", "list"), ("index", "stats")],
    ids=lambda a: " ".join(a),
)
def test_everyday_commands_import_no_heavy_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    run = run_cli(tmp_path, *args)
    assert run.code == 0, run.stderr
    assert not run.modules & set(HEAVY), f"`citewise {' '.join(args)}` imported {sorted(run.modules & set(HEAVY))}"


def test_the_answer_layer_imports_no_heavy_library() -> None:
    """``ask``, ``chat`` and the server load the answerer: its citation check's stemmer once pulled in nltk, and
    with it scipy and scikit-learn (1.2 s of every ``ask``); PyStemmer's C stemmer imports in a millisecond."""
    code = "import sys\nimport generation.answerer\nprint(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    top = {name.split(".")[0] for name in run.stdout.split()}
    assert "generation" in top
    assert not top & {*HEAVY, "nltk"}, sorted(top & {*HEAVY, "nltk"})
