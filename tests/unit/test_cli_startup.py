"""Start-up stays light: the everyday commands run the real CLI without importing the heavy libraries.

Each case runs ``citewise <args>`` in a fresh interpreter and lists the modules it imported; the heavy ones
(torch, transformers, llama-index, unstructured, ONNX Runtime, qdrant-client ...) cost seconds to import and
belong to the commands that use them (README.md, "Commands"). Not a timing test: imports are what we control.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_subprocess import run_cli

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
