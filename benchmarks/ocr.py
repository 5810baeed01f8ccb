"""OCR on the shared corpus's scans: characters recovered and seconds per page, with the loader ingest uses.

Every image file under ``img/`` and every PDF page without a text layer (found with pdfium, as the loader does)
is read by ``ingest.loaders.load_file`` with the OCR settings given here (tesseract through ``ingest.ocr``).
A PDF's time is the whole file's load (its text-layer pages take milliseconds each); blank pages (every pixel
near white) are skipped, not OCR'd, and not counted as OCR'd pages.

    nice env PYTHONPATH=. .venv/bin/python -m benchmarks.ocr [--languages eng] [--dpi 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
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


def measure(path: Path, ocr: Any) -> dict[str, Any]:
    from citewise.errors import IngestError
    from ingest.loaders import load_file

    start = time.perf_counter()
    try:
        doc = load_file(path, ocr=ocr)
    except IngestError as exc:
        return {"file": str(path.relative_to(CORPUS)), "error": exc.message, "s": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    ocr_els = [e for e in doc.elements if e.ocr]
    return {
        "file": str(path.relative_to(CORPUS)),
        "pages_ocr": len({e.page for e in ocr_els}),
        "chars_ocr": sum(e.char_end - e.char_start for e in ocr_els),
        "s": seconds,
    }


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
    }
    if args.json:
        print(json.dumps({"summary": summary, "files": rows}, indent=1))
        return 0
    print(f"{'file':55} {'pages':>5} {'chars':>6} {'s':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['file']:55} failed: {r['error'][:80]}")
        else:
            print(f"{r['file']:55} {r['pages_ocr']:>5} {r['chars_ocr']:>6} {r['s']:>6.1f}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
