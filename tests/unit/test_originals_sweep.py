"""The sweep of kept PDF copies at server start: a copy stays while some collection's docstore commits it."""

from __future__ import annotations

from pathlib import Path

from api.originals import Originals
from citewise.docstore import DocStore, DocumentRecord, PendingDocument


def _committed(data_dir: Path, collection: str, doc_id: str, digest: str) -> None:
    store = DocStore(data_dir, collection)
    record = DocumentRecord(doc_id, f"upload:{doc_id}.pdf", "T", "pdf", None, "default", chunks=1, pending_hash=digest)
    store.begin([PendingDocument(record, "text")])
    store.commit([doc_id])
    store.close()


def _copy(originals: Originals, doc_id: str, name: str) -> Path:
    path = originals.root / doc_id / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4")
    return path


def test_copies_of_every_collection_stay_and_the_rest_go(tmp_path: Path) -> None:
    _committed(tmp_path, "papers", "a", "h1")
    _committed(tmp_path, "notes", "b", "h2")  # another collection in the same data dir
    originals = Originals(tmp_path)
    kept = [_copy(originals, "a", "h1.pdf"), _copy(originals, "b", "h2.pdf")]
    old = _copy(originals, "a", "h0.pdf")  # an earlier version of a
    cut = _copy(originals, "b", "h2.partial")  # a copy a crash cut short
    gone = _copy(originals, "c", "h3.pdf")  # a document deleted while the server was down
    assert DocStore.collections(tmp_path) == ["notes", "papers"]
    stores = [DocStore(tmp_path, name) for name in DocStore.collections(tmp_path)]
    assert originals.sweep(stores) == 3
    assert all(p.is_file() for p in kept) and not old.exists() and not cut.exists()
    assert not gone.parent.exists()
    assert originals.sweep(stores) == 0
    for store in stores:
        store.close()


def test_nothing_kept_yet_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert Originals(tmp_path).sweep([]) == 0
