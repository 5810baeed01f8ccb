"""Sources for real: an S3 bucket on a local S3-compatible server (moto's server mode, no client mocks) and local
folders, through the real pipeline (MiniLM, BM25, embedded Qdrant): sync, change, prune, and two sources that
never prune each other."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from citewise.errors import SourceUnavailable
from citewise.settings import load_settings
from ingest.discovery import doc_id_for
from ingest.sources.spec import make_spec, with_globs
from ingest.sources.store import SourceStore
from ingest.sources.sync import SourceSync, purge
from tests.ingest_support import all_chunks, build
from tests.sources_support import SMALL_FILES, put_files, s3_server, small_file

__all__ = ["s3_server"]  # the fixture, used by name
pytestmark = [pytest.mark.integration]


@pytest.fixture()
def env(clean_env: Path, monkeypatch: pytest.MonkeyPatch, s3_server: Any) -> Any:
    monkeypatch.setenv("CITEWISE_SOURCES__S3_ENDPOINT_URL", s3_server.url)
    monkeypatch.setenv("CITEWISE_INGEST__WORKERS", "0")  # a handful of small files: parse in this process
    monkeypatch.setenv("CITEWISE_SOURCES__FETCH_BATCH", "3")  # several batches per sync
    return load_settings()


@pytest.fixture()
def synced(env: Any, dense_encoder: Any, bm25_encoder: Any) -> Any:
    pipeline, index, docstore = build(env, dense_encoder, bm25_encoder)
    store = SourceStore(env.data_dir, index.collection)
    yield SourceSync(pipeline, store, env), index, docstore, store
    pipeline.close()
    store.close()
    docstore.close()
    index.close()


def _sources(index: Any) -> set[str]:
    return {c.source for c in all_chunks(index)}


def test_s3_bucket_syncs_changes_and_prunes(synced: Any, s3_server: Any) -> None:
    syncer, index, docstore, store = synced
    fs = s3_server.fs
    put_files(fs, "docs", "team")
    fs.pipe("docs/team/.hidden.txt", b"hidden files are excluded like `citewise ingest` excludes them")
    store.add(make_spec("bucket", "s3://docs/team", tags={"origin": "s3"}))

    first = syncer.sync("bucket")
    assert first.summary.failures == ()
    assert first.objects == len(SMALL_FILES) and first.summary.files.ingested == len(SMALL_FILES)
    uris = {f"s3://docs/team/{name}" for name in SMALL_FILES}
    assert _sources(index) == uris  # the object's URI is the document's source, never the temp file
    chunk = next(c for c in all_chunks(index) if c.source.endswith("fake-text.txt"))
    assert chunk.tags == {"origin": "s3"}
    assert chunk.text in docstore.get_text(chunk.doc_id)

    again = syncer.sync("bucket")  # unchanged: the listing only, nothing fetched or parsed
    assert again.summary.files.unchanged == len(SMALL_FILES) and again.summary.files.ingested == 0
    assert again.summary.chunks.added == 0

    fs.pipe("docs/team/fake-text.txt", b"The quarterly report was approved by the sound engineering board.")
    fs.rm("docs/team/README.md")
    fs.pipe("docs/team/new/extra.md", small_file("codeblock.md").read_bytes() + b"\n\nAn added closing line.\n")
    third = syncer.sync("bucket")
    files = third.summary.files
    assert (files.changed, files.ingested, files.removed, files.unchanged) == (1, 1, 1, len(SMALL_FILES) - 2)
    assert "s3://docs/team/README.md" not in _sources(index)
    assert "s3://docs/team/new/extra.md" in _sources(index)
    changed = doc_id_for("s3://docs/team/fake-text.txt")
    assert "sound engineering board" in docstore.get_text(changed)
    status = store.status("bucket")
    assert status is not None and status.error is None and status.removed == 1

    # a missing bucket (or an unreachable store) stops the sync before anything is pruned
    store.add(make_spec("gone", "s3://no-such-bucket/x"))
    with pytest.raises(SourceUnavailable, match=r"no-such-bucket.*nothing was pruned"):
        syncer.sync("gone")
    assert store.status("gone").error  # type: ignore[union-attr]


def test_two_sources_never_prune_each_other(synced: Any, s3_server: Any, tmp_path: Path) -> None:
    syncer, index, docstore, store = synced
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, names in ((a, SMALL_FILES[:2]), (b, SMALL_FILES[2:4])):
        folder.mkdir()
        for name in names:
            shutil.copy(small_file(name), folder / name)
    shared = tmp_path / "b" / "shared.txt"  # listed by source b and by source ab (the same folder)
    shared.write_text("Both sources list this file; removing one source must keep it.\n")
    put_files(s3_server.fs, "pair", "docs", SMALL_FILES[:2])
    store.add(make_spec("a", str(a)))
    store.add(make_spec("b", str(b)))
    store.add(make_spec("ab", str(tmp_path / "b")))
    store.add(make_spec("s3", "s3://pair/docs"))
    run = syncer.sync_many(["a", "b", "ab", "s3"])
    assert run.summary.failures == () and len(run.results) == 4
    before = _sources(index)
    assert len(before) == 2 + 3 + 2

    (a / SMALL_FILES[0]).unlink()  # gone from a: only a's sync may remove it, and only from a
    for name in ("b", "ab", "s3"):
        assert syncer.sync(name).summary.files.removed == 0
    assert _sources(index) == before
    assert syncer.sync("a").summary.files.removed == 1
    assert _sources(index) == before - {str((a / SMALL_FILES[0]).resolve())}

    shared.unlink()  # b and ab both list it: b's prune keeps it while ab still does
    assert syncer.sync("b").summary.files.removed == 0
    assert str(shared.resolve()) in _sources(index)
    assert syncer.sync("ab").summary.files.removed == 1
    assert str(shared.resolve()) not in _sources(index)

    # purging a source deletes its documents, and only those no other source lists
    assert purge(store, "s3", index, docstore) == 2
    assert not any(s.startswith("s3://") for s in _sources(index))
    assert {s.name for s in store.list()} == {"a", "b", "ab"}
    assert purge(store, "b", index, docstore) == 0  # every document of b is also ab's
    assert len(_sources(index)) == 1 + 2


def test_local_folder_change_and_failure_is_retried(synced: Any, tmp_path: Path) -> None:
    syncer, index, _, store = synced
    folder = tmp_path / "notes"
    folder.mkdir()
    shutil.copy(small_file("fake-text.txt"), folder / "a.txt")
    (folder / "empty.txt").write_text("")
    store.add(make_spec("notes", str(folder), acl=["staff"]))
    result = syncer.sync("notes")
    assert result.summary.files.ingested == 1
    assert [f.path for f in result.summary.failures] == [str((folder / "empty.txt").resolve())]
    assert "empty" in result.summary.failures[0].reason
    assert {c.acl for c in all_chunks(index)} == {("staff",)}
    again = syncer.sync("notes")  # the failed file is not in the manifest: it is tried again
    assert again.summary.files.unchanged == 1 and again.summary.files.failed == 1
    (folder / "empty.txt").write_text("Now it has text about the budget meeting.\n")
    third = syncer.sync("notes")
    assert third.summary.files.ingested == 1 and third.summary.failures == ()

    # the same folder as a second source for the whole tenant: its documents sit beside the staff-only ones
    # (the pipeline replaces a source's documents of other ACL groups, but never ones another source lists)
    store.add(make_spec("open", str(folder)))
    assert syncer.sync("open").summary.files.ingested == 2
    assert sorted(c.acl for c in all_chunks(index)) == [(), (), ("staff",), ("staff",)]
    assert syncer.sync("notes").summary.files.unchanged == 2

    shutil.rmtree(folder)  # a vanished folder (unmounted) is an error, never an empty source
    with pytest.raises(SourceUnavailable, match="nothing was pruned"):
        syncer.sync("notes")
    assert len(all_chunks(index)) == 4


def test_globs_select_and_a_newly_excluded_file_is_pruned_from_its_source_only(synced: Any, tmp_path: Path) -> None:
    syncer, index, _, store = synced
    folder = tmp_path / "globs"
    (folder / "drafts").mkdir(parents=True)
    shutil.copy(small_file("fake-text.txt"), folder / "fake-text.txt")
    shutil.copy(small_file("README.md"), folder / "README.md")
    shutil.copy(small_file("codeblock.md"), folder / "drafts" / "plan.md")
    path = {name: str((folder / name).resolve()) for name in ("fake-text.txt", "README.md", "drafts/plan.md")}
    store.add(make_spec("all", str(folder), exclude=["drafts/"]))
    store.add(make_spec("md", str(folder), include=["*.md"]))
    assert syncer.sync("all").objects == 2
    assert syncer.sync("md").objects == 2  # README.md and drafts/plan.md
    assert _sources(index) == set(path.values())

    # README.md becomes excluded from "all": pruned from "all" only, kept while "md" lists it
    store.update(with_globs(store.get("all"), exclude=["drafts/**", "*.md"]))
    first = syncer.sync("all")
    assert (first.objects, first.summary.files.removed) == (1, 0)
    assert {o for o in store.objects("all")} == {"fake-text.txt"}
    assert _sources(index) == set(path.values())

    # "md" now takes only top-level text files: its .md documents go (no other source lists them any more)
    store.update(with_globs(store.get("md"), include=["*.txt"], exclude=["*/**"]))
    second = syncer.sync("md")
    assert second.summary.files.removed == 2 and second.objects == 1
    assert _sources(index) == {path["fake-text.txt"]}

    # cleared globs take everything again
    store.update(with_globs(store.get("all"), exclude=[]))
    assert syncer.sync("all").summary.files.ingested == 2
    assert _sources(index) == set(path.values())


def test_s3_globs_select_objects_and_prune_excluded_ones(synced: Any, s3_server: Any) -> None:
    syncer, index, _, store = synced
    put_files(s3_server.fs, "globbed", "team", ("fake-text.txt", "README.md"))
    put_files(s3_server.fs, "globbed", "team/drafts", ("codeblock.md",))
    store.add(make_spec("bucket", "s3://globbed/team", include=["*.md"], exclude=["**/drafts/**"]))
    assert syncer.sync("bucket").objects == 1
    assert _sources(index) == {"s3://globbed/team/README.md"}
    store.update(with_globs(store.get("bucket"), include=["*.txt"]))
    result = syncer.sync("bucket")
    assert (result.summary.files.ingested, result.summary.files.removed) == (1, 1)
    assert _sources(index) == {"s3://globbed/team/fake-text.txt"}
