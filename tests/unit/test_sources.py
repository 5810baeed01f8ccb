"""Sources without the index: what a source may be (and the errors saying what to do), the store, the runner's
cron and watch bookkeeping on a real store and real folder events."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from citewise.errors import InvalidRequest, NotFound, SourceExists
from ingest.sources.runner import SourceRunner
from ingest.sources.spec import SourceSpec, make_spec
from ingest.sources.store import KnownObject, SourceStore, SyncStatus


def test_local_and_object_store_uris_are_normalised(tmp_path: Path) -> None:
    spec = make_spec("notes", str(tmp_path / "." / ""), tags={"b": "2", "a": "1"}, acl=["hr", "hr", "eng"])
    assert spec.uri == str(tmp_path.resolve()) and spec.is_local and spec.root == spec.uri
    assert spec.acl == ("eng", "hr") and list(spec.tags) == ["a", "b"]
    assert make_spec("f", f"file://{tmp_path}").uri == str(tmp_path.resolve())
    s3 = make_spec("b", "s3://bucket/some/prefix/", schedule="0  2 * * *", options={"anon": "true"})
    assert (s3.uri, s3.protocol, s3.root, s3.schedule) == (
        "s3://bucket/some/prefix",
        "s3",
        "bucket/some/prefix",
        "0 2 * * *",
    )
    assert s3.options == {"anon": True}
    assert SourceSpec.from_body(s3.body()) == s3


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"uri": "ftp://host/docs"}, ["unknown URI scheme 'ftp://'", "s3://BUCKET/PREFIX"]),
        ({"uri": "s3://AKIA:hunter2@bucket/x"}, ["carries credentials", "AWS_ACCESS_KEY_ID", "never stored"]),
        ({"uri": "az://container/x?sv=2020&sig=abc"}, ["query string", "SAS"]),
        ({"uri": "s3:///prefix"}, ["names no bucket", "s3://BUCKET/PREFIX"]),
        ({"uri": "gs://bucket/x"}, ["gcsfs", "pip install gcsfs"]),
        ({"uri": "/no/such/folder"}, ["folder not found", "check the spelling or mount"]),
        ({"schedule": "every night"}, ["not a cron expression", "'0 2 * * *'"]),
        ({"schedule": "61 * * * *"}, ["not a cron expression"]),
        ({"schedule": "0 2 * * *", "watch": True}, ["not both"]),
        ({"uri": "s3://bucket/x", "watch": True}, ["--watch needs a local folder", "--schedule"]),
        ({"options": {"aws_secret_access_key": "x"}}, ["looks like a credential"]),
        ({"options": {"sas_token": "x"}}, ["looks like a credential"]),
        ({"name": "no spaces"}, ["source name 'no spaces' is invalid"]),
        ({"tenant": "a b"}, ["tenant 'a b' is invalid"]),
    ],
)
def test_bad_sources_are_refused_with_what_to_do(tmp_path: Path, kwargs: dict[str, object], words: list[str]) -> None:
    args: dict[str, object] = {"name": "src", "uri": str(tmp_path), **kwargs}
    with pytest.raises(InvalidRequest) as caught:
        make_spec(**args)  # type: ignore[arg-type]
    for word in words:
        assert word in caught.value.message, caught.value.message
    assert "hunter2" not in caught.value.message


def test_api_local_roots_confine_folders(tmp_path: Path) -> None:
    inside = tmp_path / "allowed" / "docs"
    inside.mkdir(parents=True)
    assert make_spec("ok", str(inside), local_roots=[tmp_path / "allowed"]).uri == str(inside.resolve())
    with pytest.raises(InvalidRequest, match="CITEWISE_SOURCES__API_LOCAL_ROOTS"):
        make_spec("no", str(inside / ".." / ".."), local_roots=[tmp_path / "allowed"])
    with pytest.raises(InvalidRequest, match="none configured"):
        make_spec("no", str(inside), local_roots=[])


def test_store_names_manifest_and_claims(tmp_path: Path) -> None:
    store = SourceStore(tmp_path / "data", "citewise")
    store.add(make_spec("a", str(tmp_path)))
    store.add(make_spec("b", str(tmp_path), tenant="beta"))
    with pytest.raises(SourceExists, match=r"already exists.*sources remove a"):
        store.add(make_spec("a", str(tmp_path)))
    assert [s.name for s in store.list()] == ["a", "b"] and [s.name for s in store.list("beta")] == ["b"]
    store.record("a", [KnownObject("x.txt", "1:2", "doc1", "fp"), KnownObject("y.txt", "3:4", "doc2", "fp")])
    store.record("b", [KnownObject("x.txt", "1:2", "doc1", "fp")])
    assert store.claimed_elsewhere("doc1", "a") and not store.claimed_elsewhere("doc2", "a")
    store.set_status("a", SyncStatus(1.0, 2.0, objects=2, failures=({"path": "p", "reason": "r"},)))
    assert store.status("a") == SyncStatus(1.0, 2.0, objects=2, failures=({"path": "p", "reason": "r"},))
    store.remove("b")
    assert not store.claimed_elsewhere("doc1", "a") and store.status("b") is None
    with pytest.raises(NotFound, match="citewise sources list"):
        store.get("b")
    store.close()


def test_runner_fires_cron_times_and_watch_events(tmp_path: Path) -> None:
    store = SourceStore(tmp_path / "data", "citewise")
    watched = tmp_path / "watched"
    watched.mkdir()
    store.add(make_spec("nightly", str(tmp_path), schedule="0 2 * * *"))
    store.add(make_spec("folder", str(watched), watch=True))
    now = [1_700_000_000.0]  # 2023-11-14 22:13:20 UTC
    submitted: list[str] = []
    full = threading.Event()

    def submit(name: str) -> None:
        if full.is_set():
            raise RuntimeError("queue full")
        submitted.append(name)

    runner = SourceRunner(store, submit, tick_s=0.05, debounce_ms=50, clock=lambda: now[0])
    try:
        runner.tick()
        assert submitted == ["folder"]  # the watched folder's catch-up sync; the cron source waits for its time
        now[0] += 6 * 3600  # past 02:00 in any time zone offset of a whole hour
        runner.tick()
        assert submitted == ["folder", "nightly"]
        runner.tick()
        assert submitted == ["folder", "nightly"]  # once per cron time

        time.sleep(1.0)  # the watch thread sets up its inotify watch (the catch-up sync covers that gap in a server)
        (watched / "new.txt").write_text("a new file\n")
        deadline = time.monotonic() + 10
        while "folder" not in submitted[2:] and time.monotonic() < deadline:
            runner.tick()
            time.sleep(0.05)
        assert submitted[2:] == ["folder"]

        full.set()  # a full job queue: the source stays due and is submitted at a later tick
        (watched / "new.txt").unlink()
        deadline = time.monotonic() + 10
        while not runner._due and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.tick()
        full.clear()
        runner.tick()
        assert submitted[3:] == ["folder"]

        store.remove("folder")
        runner.tick()
        assert runner._watches == {}
    finally:
        runner.close()
        store.close()


def test_local_listing_keys_markers_and_excludes(tmp_path: Path) -> None:
    from citewise.settings import Settings
    from ingest.sources.listing import SourceReader

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.md").write_text("# beta")
    (folder / ".hidden.txt").write_text("skipped like `citewise ingest` skips it")
    outside = tmp_path / "outside.txt"
    outside.write_text("reached through a symlink")
    (folder / "link.txt").symlink_to(outside)
    listed = SourceReader(make_spec("docs", str(folder)), Settings()).objects()
    assert sorted(o.key for o in listed) == sorted(["a.txt", "sub/b.md", str(outside.resolve())])
    a = next(o for o in listed if o.key == "a.txt")
    assert a.uri == str((folder / "a.txt").resolve()) and a.size == 5 and a.marker.endswith(":5")
