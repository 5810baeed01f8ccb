"""DocStore: pending/commit versions, text lookup by version, listing, tenant and prefix filters, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from citewise.docstore import DocStore, DocumentRecord, PendingDocument
from citewise.errors import NotFound
from citewise.types import acl_allows


def rec(doc_id: str, h: str, source: str = "/a/x.txt", tenant: str = "default", chunks: int = 2) -> DocumentRecord:
    return DocumentRecord(doc_id, source, "T", "txt", None, tenant, chunks=chunks, pending_hash=h)


def test_versions_pending_then_committed(tmp_path: Path) -> None:
    store = DocStore(tmp_path, "c")
    store.begin([PendingDocument(rec("d1", "h1"), "one")])
    r = store.get("d1")
    assert r is not None and not r.complete and r.content_hash is None and r.pending_hash == "h1"
    assert store.get_text("d1") == "one"  # pending text readable before the first commit
    store.commit(["d1"])
    r = store.require("d1")
    assert r.complete and r.content_hash == "h1" and r.chunks == 2 and r.ingested_at

    store.begin([PendingDocument(rec("d1", "h2", chunks=5), "two")])
    assert store.get_text("d1") == "one"  # committed version stays current while the new one is written
    assert store.get_text("d1", "h2") == "two"
    assert store.require("d1").chunks == 2
    store.commit(["d1"])
    assert store.get_text("d1") == "two" and store.require("d1").chunks == 5
    with pytest.raises(NotFound):
        store.get_text("d1", "h1")  # the old version's text is dropped after commit
    store.close()

    reopened = DocStore(tmp_path, "c")  # durable
    assert reopened.get_text("d1") == "two"


def test_list_filters_and_delete(tmp_path: Path) -> None:
    store = DocStore(tmp_path, "c")
    store.begin(
        [
            PendingDocument(rec("a", "1", "/data/a.txt"), "a"),
            PendingDocument(rec("b", "2", "/data/sub/b.txt"), "b"),
            PendingDocument(rec("c", "3", "/database.txt"), "c"),
            PendingDocument(rec("d", "4", "/data/d.txt", tenant="acme"), "d"),
        ]
    )
    store.commit(["a", "b", "c", "d"])
    assert [r.doc_id for r in store.list()] == ["a", "d", "b", "c"]
    assert [r.doc_id for r in store.list(source_prefix="/data/")] == ["a", "d", "b"]
    assert [r.doc_id for r in store.list(tenant="default", source_prefix="/data/")] == ["a", "b"]
    assert [r.doc_id for r in store.list(offset=1, limit=2)] == ["d", "b"]
    assert store.count(tenant="acme") == 1
    assert store.delete("a") is True and store.get("a") is None
    assert store.delete("a") is False
    with pytest.raises(NotFound, match="documents list"):
        store.require("a")
    with pytest.raises(NotFound):
        store.get_text("a")


def test_collections_are_separate(tmp_path: Path) -> None:
    one, two = DocStore(tmp_path, "one"), DocStore(tmp_path, "two")
    one.begin([PendingDocument(rec("x", "h"), "text")])
    assert two.get("x") is None


ACLS = {"open": (), "hr": ("hr",), "hr_legal": ("hr", "legal"), "eng": ("eng",)}


@pytest.mark.parametrize(
    ("groups", "visible"),
    [
        (None, {"open", "hr", "hr_legal", "eng"}),  # no ACL check (operator, admin key)
        ((), {"open"}),  # a caller in no group reads only open documents
        (("hr",), {"open", "hr", "hr_legal"}),
        (("legal", "ops"), {"open", "hr_legal"}),
        (("ops",), {"open"}),
    ],
)
def test_acl_groups_in_sql_and_in_python_agree(
    tmp_path: Path, groups: tuple[str, ...] | None, visible: set[str]
) -> None:
    store = DocStore(tmp_path, "c")
    docs = [DocumentRecord(d, f"/x/{d}.txt", "T", "txt", None, "acme", acl, pending_hash=d) for d, acl in ACLS.items()]
    store.begin([PendingDocument(r, "t") for r in docs])
    store.commit(list(ACLS))
    assert {r.doc_id for r in store.list("acme", groups=groups)} == visible
    assert store.count("acme", groups=groups) == len(visible)
    assert {d for d, acl in ACLS.items() if acl_allows(acl, groups)} == visible
    assert store.list("other", groups=groups) == []
    store.close()


def test_one_store_shared_by_threads_keeps_their_transactions_apart(tmp_path: Path) -> None:
    import threading

    store = DocStore(tmp_path, "c")
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(150):
                doc_id = f"t{t}-{i}"
                store.begin([PendingDocument(rec(doc_id, "h1", source=f"/t{t}/{i}.txt"), f"text {t} {i}")])
                store.commit([doc_id])
                assert store.require(doc_id).complete and store.get_text(doc_id) == f"text {t} {i}"
                store.list(offset=0, limit=5)
        except BaseException as exc:  # e.g. "cannot start a transaction within a transaction"
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 600 and all(r.complete for r in store.iter_all())
    store.close()
