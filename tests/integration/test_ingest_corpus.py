"""The whole unstructured example corpus through the real pipeline: every file is ingested or failed with a reason.

Real parsers in parser processes, the real MiniLM tokenizer for chunking, real BM25, embedded Qdrant and the
docstore; only the dense vectors are hashed (``HashEncoder``) to keep this affordable. Real MiniLM vectors
over every format family are covered by ``test_ingest_pipeline.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from citewise.settings import load_settings
from tests.ingest_support import HashEncoder, all_chunks, build, check_invariants
from tests.paths import CORPUS, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1800)  # minutes of parsing on 2 cores: room for a busy shared machine
def test_every_corpus_file_is_accounted_for(settings: Any, dense_encoder: Any, bm25_encoder: Any) -> None:
    root = require(CORPUS)
    files = {str(p.resolve()) for p in root.rglob("*") if p.is_file()}
    hashed = HashEncoder(dense_encoder)
    # no parse timeout on a busy machine: which files ingest must not depend on the load. OCR off: the corpus's
    # 18 scanned pages would add ~100 s (tests/unit/test_ingest_ocr.py and benchmarks/ocr.py read them)
    settings = load_settings(data_dir=settings.data_dir, ingest={"parse_timeout_s": 1500, "ocr": False})
    pipeline, index, store = build(settings, hashed, bm25_encoder)
    with pipeline:
        summary = pipeline.run([root], workers=2, exclude=())  # no exclude globs: every file counts
    failed = {f.path: f.reason for f in summary.failures}
    ingested = {r.source for r in store.iter_all()}
    assert len(failed) == len(summary.failures), "a file was reported twice"
    assert not failed.keys() & ingested
    assert failed.keys() | ingested == files, sorted(files - failed.keys() - ingested)
    assert summary.files.ingested == len(ingested) and summary.files.failed == len(failed)
    for path, reason in failed.items():
        # a reason a person can act on: what is wrong and what to do, never a bare exception
        assert len(reason) > 30 and "Traceback" not in reason, (path, reason)
    texts = [c.text for c in all_chunks(index)]
    tokens = dict(zip(texts, _token_counts(dense_encoder, texts), strict=True))  # one batched call, not 10k
    assert check_invariants(index, store, hashed.max_seq_length, tokens.__getitem__) == summary.chunks.added
    assert hashed.encoded == summary.chunks.added
    types = {r.file_type for r in store.iter_all()}
    assert {"pdf", "docx", "pptx", "xlsx", "html", "md", "txt", "csv", "eml", "epub", "odt", "rtf"} <= types
    index.close()


def _token_counts(encoder: Any, texts: list[str]) -> list[int]:
    ids = encoder.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    return [len(i) for i in ids]
