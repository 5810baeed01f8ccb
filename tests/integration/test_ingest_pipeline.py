"""IngestPipeline for real: unstructured + pdfium, MiniLM tokenizer and encoder, embedded Qdrant, SQLite docstore."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from citewise.errors import NotFound
from citewise.index import Filter, Match
from citewise.settings import load_settings
from tests.ingest_support import CountingEncoder, all_chunks, build, check_invariants, doc_chunks
from tests.paths import CORPUS, require, scifact_docs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# one file per format family; all must ingest
FAMILIES = [
    "pdf/layout-parser-paper-fast.pdf",
    "simple.docx",
    "fake-power-point.pptx",
    "stanley-cups.xlsx",
    "tests-example.xls",
    "fake-html.html",
    "README.md",
    "README.rst",
    "README.org",
    "fake-text-utf-16-be.txt",
    "stanley-cups.csv",
    "stanley-cups.tsv",
    "fake-email.eml",
    "fake-email.msg",
    "language-docs/eng_spa_mult.epub",
    "simple.odt",
    "fake-doc.rtf",
    "factbook.xml",
    "simple.json",
    "fake-html-cp1252.html",
    "umlauts-non-utf8.md",
]


@pytest.fixture()
def counting(dense_encoder: Any) -> CountingEncoder:
    return CountingEncoder(dense_encoder)


def test_every_format_family(settings: Any, counting: CountingEncoder, bm25_encoder: Any) -> None:
    root = require(CORPUS)
    pipeline, index, store = build(settings, counting, bm25_encoder)
    with pipeline:
        summary = pipeline.run([root / f for f in FAMILIES], tags={"set": "families"}, acl=["staff"], workers=1)
    assert summary.failures == (), summary.failures
    assert summary.files.ingested == len(FAMILIES)
    n = check_invariants(index, store, counting.max_seq_length, counting.count_tokens)
    assert n == summary.chunks.added == counting.encoded
    chunks = all_chunks(index)
    by_type = {c.file_type for c in chunks}
    assert by_type >= {"pdf", "docx", "pptx", "xlsx", "xls", "html", "md", "rst", "org", "txt", "csv", "tsv", "eml"}
    assert {"msg", "epub", "odt", "rtf", "xml", "json"} <= by_type
    for c in chunks:
        assert c.tags == {"set": "families"} and c.acl == ("staff",) and c.tenant == "default"
        assert set(c.versions) >= {"loader", "chunker", "encoder", "sparse", "parser"}
        assert c.chunk_hash and c.content_hash and c.source.startswith(str(root.resolve()))
    pdf = [c for c in chunks if c.file_type == "pdf"]
    assert {c.page_start for c in pdf} == {1, 2}
    md = [c for c in chunks if c.source.endswith("README.md")]
    assert any(c.heading_path for c in md)
    csv = next(c for c in chunks if c.file_type == "csv")
    assert " | " in csv.text and "Table" in csv.element_types  # table rows kept with cell separators
    index.close()


def test_bad_files_are_reported_and_never_stop_the_batch(
    settings: Any, counting: CountingEncoder, bm25_encoder: Any, tmp_path: Path
) -> None:
    root = require(CORPUS)
    bad = tmp_path / "bad"
    bad.mkdir()
    good = bad / "good.md"
    good.write_text("# Title\n\nA perfectly good paragraph about citations.\n")
    (bad / "corrupt.docx").write_bytes((root / "simple.docx").read_bytes()[:700])
    with zipfile.ZipFile(bad / "notreally.pptx", "w") as zf:
        zf.writestr("hello.txt", "not a presentation")
    (bad / "huge.txt").write_text("big " * 400_000)
    (bad / "binary.txt").write_bytes(bytes(range(256)) * 40)
    for name in [
        "empty.txt",
        "pdf/password.pdf",
        "password_protected.xlsx",
        "fake-encrypted.msg",
        "img/DA-1p.png",
        "CantinaBand3.wav",
        "simple.zip",
        "fake.doc",
        "pdf/loremipsum-flat.pdf",
        "single-column.csv",
    ]:
        shutil.copy(root / name, bad / Path(name).name)
    settings = load_settings(data_dir=settings.data_dir, ingest={"max_file_mb": 1.0, "ocr": False})
    pipeline, index, store = build(settings, counting, bm25_encoder)
    with pipeline:
        summary = pipeline.run([bad], workers=1)
    reasons = {Path(f.path).name: f.reason for f in summary.failures}
    expected = {
        "corrupt.docx": "corrupt",
        "notreally.pptx": "corrupt",
        "huge.txt": "CITEWISE_INGEST__MAX_FILE_MB",
        "binary.txt": "binary",
        "empty.txt": "empty file",
        "password.pdf": "password",
        "password_protected.xlsx": "password",
        "fake-encrypted.msg": "encrypted",
        "DA-1p.png": "OCR, which is off",
        "CantinaBand3.wav": "transcribe",
        "simple.zip": "extract it",
        "fake.doc": "LibreOffice",
        "loremipsum-flat.pdf": "no text layer",
        "single-column.csv": "malformed",
    }
    for name, fragment in expected.items():
        assert fragment in reasons.get(name, ""), (name, reasons.get(name))
    assert summary.files.failed == len(expected) and summary.files.ingested == 1
    assert store.count() == 1 and index.count() >= 1  # the good file made it, bad ones left no trace
    index.close()


def _write_docs(folder: Path, docs: list[dict[str, str]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in docs:
        path = folder / f"{d['_id']}.md"
        path.write_text(f"# {d['title']}\n\n{d['text']}\n")
        paths.append(path)
    return paths


def test_incremental_changed_prune_and_delete(
    settings: Any, counting: CountingEncoder, bm25_encoder: Any, tmp_path: Path
) -> None:
    docs = scifact_docs(6)
    folder = tmp_path / "tree"
    paths = _write_docs(folder, docs)
    pipeline, index, store = build(settings, counting, bm25_encoder)
    with pipeline:
        first = pipeline.run([folder], workers=0)
        assert first.files.ingested == 6 and first.ok
        total = index.count()
        assert total == first.chunks.added == sum(r.chunks for r in store.list())

        encoded = counting.encoded
        again = pipeline.run([folder], workers=0)
        assert again.files.unchanged == 6 and again.files.ingested == again.files.changed == 0
        assert again.chunks.added == 0 and counting.encoded == encoded, "unchanged re-run must not parse or embed"

        # documents written with another BM25 analysis (before language-aware analysis) are redone by a re-run
        assert pipeline.versions["sparse"] == bm25_encoder.fingerprint != "qdrant-bm25"
        pipeline.versions = {**pipeline.versions, "sparse": "qdrant-bm25"}
        assert pipeline.run([folder], workers=0).files.changed == 6
        pipeline.versions = {**pipeline.versions, "sparse": bm25_encoder.fingerprint}
        assert pipeline.run([folder], workers=0).files.changed == 6
        assert pipeline.run([folder], workers=0).files.unchanged == 6

        # a changed file replaces its chunks: a long version first, then a short one (stale chunks must go)
        doc_id = store.list(source_prefix=str(paths[0].resolve()))[0].doc_id
        paths[0].write_text("# Changed\n\n" + " ".join([docs[0]["text"]] * 4))
        grown = pipeline.run([folder], workers=0)
        assert grown.files.changed == 1 and grown.files.unchanged == 5
        long_chunks = doc_chunks(index, doc_id)
        assert len(long_chunks) > 1 and all(c.title == "Changed" for c in long_chunks)
        paths[0].write_text("# Short\n\nOnly one short sentence now.\n")
        shrunk = pipeline.run([folder], workers=0)
        assert shrunk.files.changed == 1 and shrunk.chunks.removed == len(long_chunks) - 1
        now = doc_chunks(index, doc_id)
        assert len(now) == 1 and "Only one short sentence now." in now[0].text, [c.text for c in now]
        assert store.get_text(doc_id).startswith("Short") and now[0].content_hash == store.require(doc_id).content_hash
        check_invariants(index, store, counting.max_seq_length, counting.count_tokens)

        # tags changing is a change too (payloads must carry the new tags)
        tagged = pipeline.run([folder], workers=0, tags={"team": "bio"})
        assert tagged.files.changed == 6
        assert all(c.tags == {"team": "bio"} for c in all_chunks(index))

        # prune: a deleted file's document goes; without --prune it stays
        gone = store.list(source_prefix=str(paths[1].resolve()))[0]
        paths[1].unlink()
        kept = pipeline.run([folder], workers=0, tags={"team": "bio"})
        assert kept.files.removed == 0 and store.get(gone.doc_id) is not None
        pruned = pipeline.run([folder], workers=0, tags={"team": "bio"}, prune=True)
        assert pruned.files.removed == 1 and pruned.chunks.removed == gone.chunks
        assert store.get(gone.doc_id) is None and index.count(Filter(must=(Match("doc_id", gone.doc_id),))) == 0

        # delete one document
        victim = store.list()[0]
        assert pipeline.delete_document(victim.doc_id) == victim.chunks
        assert store.get(victim.doc_id) is None and doc_chunks(index, victim.doc_id) == []
        with pytest.raises(NotFound):
            pipeline.delete_document(victim.doc_id)
        assert index.count() == sum(r.chunks for r in store.list())
    index.close()


def test_tenants_are_separate_documents(
    settings: Any, counting: CountingEncoder, bm25_encoder: Any, tmp_path: Path
) -> None:
    path = _write_docs(tmp_path / "t", scifact_docs(1))[0]
    pipeline, index, store = build(settings, counting, bm25_encoder)
    a = pipeline.run([path], tenant="acme", acl=["eng", "eng", "ops"])
    b = pipeline.run([path], tenant="globex")
    assert a.doc_ids != b.doc_ids and store.count(tenant="acme") == 1 and store.count(tenant="globex") == 1
    acme = all_chunks(index, Filter(must=(Match("tenant", "acme"),)))
    assert acme and all(c.acl == ("eng", "ops") for c in acme)
    index.close()


def test_long_document_chunks_fit_the_model(settings: Any, counting: CountingEncoder, bm25_encoder: Any) -> None:
    """War and Peace, first pages: real tokenizer, every chunk within chunk_tokens (never truncated)."""
    pipeline, index, store = build(settings, counting, bm25_encoder)
    summary = pipeline.run([require(CORPUS) / "book-war-and-peace-1p.txt", CORPUS / "norwich-city.txt"])
    assert summary.ok
    for c in all_chunks(index):
        assert counting.count_tokens(c.text) <= settings.ingest.chunk_tokens
    check_invariants(index, store, settings.ingest.chunk_tokens, counting.count_tokens)
    index.close()
