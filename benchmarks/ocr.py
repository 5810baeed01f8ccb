"""OCR on the shared corpus's scans: characters recovered and seconds per page, with the loader ingest uses.

Every image file under ``img/`` and every PDF page without a text layer (found with pdfium, as the loader does)
is read by ``ingest.loaders.load_file`` with the OCR settings given here (tesseract through ``ingest.ocr``).
A PDF's time is the whole file's load (its text-layer pages take milliseconds each); blank pages (every pixel
near white) are skipped, not OCR'd, and not counted as OCR'd pages. Besides wall time, ``cpu_s`` is the CPU time
of this process and of its children (tesseract runs as a child process): on a shared, loaded machine it is the
figure that does not depend on the load.

Accuracy where the corpus has the truth: an image whose page also exists as a PDF with a text layer
(``img/DA-1p.png`` and ``pdf/DA-1p.pdf``, ...) is scored by word recall, the share of the text layer's words
(lower case, letters and digits) that OCR found (as a multiset, order ignored).

    nice env PYTHONPATH=. .venv/bin/python -m benchmarks.ocr [--languages eng] [--dpi 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CITEWISE_SHARED_DIR", REPO.parent / "shared")) / "corpora" / "unstructured-example-docs"
IMAGES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")


def scanned_pages(path: Path) -> int:
    """PDF pages without a text layer (0: the PDF is skipped)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError:
        return 0
    try:
        return sum(1 for i in range(len(pdf)) if not pdf[i].get_textpage().get_text_range().strip())
    finally:
        pdf.close()


_WORD = re.compile(r"[a-z0-9]+")


def word_recall(truth: str, found: str) -> float:
    from collections import Counter

    want, got = Counter(_WORD.findall(truth.lower())), Counter(_WORD.findall(found.lower()))
    return sum((want & got).values()) / max(1, sum(want.values()))


def truth_for(path: Path, pages: int) -> str | None:
    """The text layer of the same ``pages`` first pages, where the corpus has them as a PDF (``pdf/<stem>.pdf``)."""
    from ingest.loaders import OcrConfig, load_file

    pdf = CORPUS / "pdf" / f"{path.stem}.pdf"
    if path.suffix.lower() == ".pdf" or not pdf.exists() or scanned_pages(pdf):
        return None
    doc = load_file(pdf, ocr=OcrConfig(enabled=False))
    return "\n".join(doc.text[e.char_start : e.char_end] for e in doc.elements if (e.page or 1) <= pages)


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children so far."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measure(path: Path, ocr: Any) -> dict[str, Any]:
    from citewise.errors import IngestError
    from ingest.loaders import load_file

    start, cpu = time.perf_counter(), _cpu()
    try:
        doc = load_file(path, ocr=ocr)
    except IngestError as exc:
        return {"file": str(path.relative_to(CORPUS)), "error": exc.message, "s": time.perf_counter() - start}
    seconds, cpu_s = time.perf_counter() - start, _cpu() - cpu
    ocr_els = [e for e in doc.elements if e.ocr]
    pages = len({e.page for e in ocr_els})
    row: dict[str, Any] = {
        "file": str(path.relative_to(CORPUS)),
        "pages_ocr": pages,
        "chars_ocr": sum(e.char_end - e.char_start for e in ocr_els),
        "s": seconds,
        "cpu_s": cpu_s,
    }
    truth = truth_for(path, pages)
    if truth is not None:
        row["word_recall"] = round(word_recall(truth, doc.text), 3)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="eng")
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from ingest.ocr import OcrConfig, engine_name

    ocr = OcrConfig(True, args.languages, args.dpi)
    files = sorted(p for p in (CORPUS / "img").iterdir() if p.suffix.lower() in IMAGES)
    files += sorted(p for p in CORPUS.rglob("*.pdf") if scanned_pages(p))
    rows = []
    for path in files:
        row = measure(path, ocr)
        if path.suffix.lower() == ".pdf":
            row["scanned_pages"] = scanned_pages(path)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    done = [r for r in rows if "error" not in r]
    pages = sum(r["pages_ocr"] for r in done)
    seconds = sum(r["s"] for r in done)
    cpu_s = sum(r["cpu_s"] for r in done)
    summary = {
        "engine": engine_name(ocr),
        "dpi": args.dpi,
        "files": len(rows),
        "failed": len(rows) - len(done),
        "pages_ocr": pages,
        "chars_ocr": sum(r["chars_ocr"] for r in done),
        "s_total": round(seconds, 1),
        "s_per_page": round(seconds / pages, 2) if pages else None,
        "pages_per_s": round(pages / seconds, 3) if seconds else None,
        "cpu_s_total": round(cpu_s, 1),
        "cpu_s_per_page": round(cpu_s / pages, 2) if pages else None,
        "word_recall_mean": _mean([r["word_recall"] for r in done if "word_recall" in r]),
    }
    if args.json:
        print(json.dumps({"summary": summary, "files": rows}, indent=1))
        return 0
    print(f"{'file':45} {'pages':>5} {'chars':>6} {'s':>6} {'cpu_s':>6} {'recall':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['file']:45} failed: {r['error'][:70]}")
        else:
            recall = f"{r['word_recall']:.3f}" if "word_recall" in r else ""
            print(
                f"{r['file']:45} {r['pages_ocr']:>5} {r['chars_ocr']:>6} {r['s']:>6.1f} {r['cpu_s']:>6.1f} {recall:>6}"
            )
    print(json.dumps(summary))
    return 0


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


if __name__ == "__main__":
    raise SystemExit(main())
