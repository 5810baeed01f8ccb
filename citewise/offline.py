"""Process-wide defaults that keep third-party libraries from phoning home or downloading at run time.

Only defaults: a variable the user already set is left alone. Called by the CLI and the API at start.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_DEFAULTS = {
    "DO_NOT_TRACK": "1",  # unstructured's import-time ping
    "RAGAS_DO_NOT_TRACK": "true",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "SCARF_NO_ANALYTICS": "true",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def bundled_tiktoken_cache() -> Path | None:
    """llama-index ships tiktoken's cl100k/o200k files; pointing tiktoken there avoids a download.

    Found with ``find_spec``, not an import: importing llama-index costs ~0.7 s, which every command would pay.
    """
    try:
        spec = importlib.util.find_spec("llama_index")  # a namespace package: nothing is imported
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "core" / "_static" / "tiktoken_cache"
        if path.is_dir():
            return path
    return None


def apply_offline_defaults() -> None:
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        cache = bundled_tiktoken_cache()
        if cache is not None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
