"""One lock around every use of pdfium in the process.

PDFium is not thread-safe: pypdfium2 says never to call it from two threads at once, not even on different
documents. The API renders PDF pages for the citation viewer on its worker threads while its job worker may be
loading PDFs, so both hold this lock (``ingest.loaders`` through ``pdfium_serialized``, ``api.pdf_pages``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

PDFIUM_LOCK = threading.RLock()
P = ParamSpec("P")
R = TypeVar("R")


def pdfium_serialized(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run while holding ``PDFIUM_LOCK``."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with PDFIUM_LOCK:
            return fn(*args, **kwargs)

    return run
