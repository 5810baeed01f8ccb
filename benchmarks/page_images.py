"""Latency of the citation viewer's PDF work (``api.pdf_pages``): render a page as PNG, locate a quote on it.

    PYTHONPATH=. nice .venv/bin/python benchmarks/page_images.py [--repeat 20] [--width 1000]

Per PDF of the shared corpus: the median and p95 over ``--repeat`` runs of ``render_png`` and ``locate`` on a page
in its middle (the quote: 200 characters from that page's own text), and the PNG's size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.pdf_pages import locate, open_pdf, render_png  # noqa: E402
from tests.paths import CORPUS, require  # noqa: E402

PDFS = ("pdf/layout-parser-paper-fast.pdf", "pdf/DA-619p.pdf", "pdf/multi-column-2p.pdf")


def _quote(path: Path, number: int) -> str:
    with open_pdf(path) as pdf:
        page = pdf[number - 1]
        text = " ".join(page.get_textpage().get_text_range().split())
        page.close()
    middle = len(text) // 2
    return text[middle : middle + 200]


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"p50 {statistics.median(ordered) * 1e3:.1f} ms, p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--width", type=int, default=1000)
    args = parser.parse_args()
    for name in PDFS:
        path = require(CORPUS / name)
        with open_pdf(path) as pdf:
            pages = len(pdf)
        number = max(1, pages // 2)
        quote = _quote(path, number)
        renders, locates, size, match = [], [], 0, ""
        for _ in range(args.repeat):
            start = time.perf_counter()
            size = len(render_png(path, number, args.width))
            renders.append(time.perf_counter() - start)
            start = time.perf_counter()
            match = locate(path, number, quote).match
            locates.append(time.perf_counter() - start)
        print(
            f"{name} ({pages} pages, page {number}): render {_ms(renders)} ({size / 1e3:.0f} kB PNG); "
            f"locate {_ms(locates)} (match {match})"
        )


if __name__ == "__main__":
    main()
