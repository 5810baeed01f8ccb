"""A source's include/exclude globs: the matching rule (docs/sources.md), the refusals saying what to write, the
store keeping and updating them, a folder's listing and the watch filter applying them."""

from __future__ import annotations

from pathlib import Path

import pytest

from citewise.errors import InvalidRequest, NotFound
from ingest.sources.globs import KeyFilter, check_globs, glob_matches
from ingest.sources.runner import SourceEvents
from ingest.sources.spec import SourceSpec, make_spec, with_globs
from ingest.sources.store import SourceStore


@pytest.mark.parametrize(
    ("glob", "yes", "no"),
    [
        ("*.pdf", ["a.pdf", "team/2024/a.pdf"], ["a.pdf.txt", "a.PDF", "pdf"]),
        ("drafts", ["drafts/a.txt", "x/drafts/y/a.txt"], ["drafts2/a.txt", "x/a-drafts.txt"]),
        ("docs/**", ["docs/a.txt", "docs/x/y/a.txt"], ["docs", "x/docs/a.txt", "docsx/a.txt"]),
        ("**/drafts/**", ["drafts/a.txt", "x/y/drafts/a.txt"], ["x/drafts", "x/mydrafts/a.txt"]),
        ("reports/**/*.pdf", ["reports/a.pdf", "reports/2024/q1/a.pdf"], ["reports/a.txt", "x/reports/a.pdf"]),
        ("docs/*.md", ["docs/a.md"], ["docs/x/a.md", "a.md"]),
        ("team/?.txt", ["team/a.txt"], ["team/ab.txt", "team/x/a.txt"]),
        ("[!_]*.txt", ["a.txt", "x/b.txt"], ["_a.txt"]),
    ],
)
def test_glob_rule(glob: str, yes: list[str], no: list[str]) -> None:
    assert [k for k in yes if glob_matches(k, glob)] == yes
    assert [k for k in no if glob_matches(k, glob)] == []


def test_include_and_exclude_together_exclude_wins() -> None:
    keys = KeyFilter(include=("*.pdf", "docs/**"), exclude=("**/drafts/**",))
    assert keys.selects("a.pdf") and keys.selects("docs/readme.md") and keys.selects("x/y.pdf")
    assert not keys.selects("notes.txt") and not keys.selects("docs/drafts/plan.md")
    assert not keys.selects("drafts/a.pdf")
    assert KeyFilter().selects("anything/at/all.bin") and not KeyFilter()


def test_globs_are_normalised() -> None:
    assert check_globs(["./docs/", "*.pdf", "*.pdf", " a/*.md "], "include") == ("docs/**", "*.pdf", "a/*.md")
    assert check_globs(None, "exclude") == ()


@pytest.mark.parametrize(
    ("glob", "words"),
    [
        ("", ["--include '' is empty", "'*.pdf'"]),
        ("   ", ["is empty"]),
        ("/srv/docs/**", ["is absolute", "relative to the source's root", "'**/drafts/**'"]),
        ("C:/docs/*.pdf", ["is absolute"]),
        ("../other/**", ["contains '..'", "add another source"]),
        ("docs/../../etc/*", ["contains '..'"]),
        ("docs\\*.pdf", ["separate folders with '/'"]),
        ("docs//a.txt", ["empty or '.' path segment"]),
    ],
)
def test_bad_globs_say_what_to_write(tmp_path: Path, glob: str, words: list[str]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        make_spec("docs", str(tmp_path), include=[glob])
    for word in words:
        assert word in caught.value.message, caught.value.message
    with pytest.raises(InvalidRequest, match="--exclude"):
        make_spec("docs", str(tmp_path), exclude=[glob])


def test_store_keeps_and_updates_globs(tmp_path: Path) -> None:
    store = SourceStore(tmp_path / "data", "citewise")
    try:
        spec = store.add(make_spec("docs", str(tmp_path), include=["*.pdf"], exclude=["drafts/"]))
        assert store.get("docs") == spec and spec.exclude == ("drafts/**",)
        store.update(with_globs(spec, exclude=[]))
        assert (store.get("docs").include, store.get("docs").exclude) == (("*.pdf",), ())
        store.update(with_globs(store.get("docs"), include=[]))
        assert store.get("docs").globs == KeyFilter()
        with pytest.raises(NotFound, match="sources list"):
            store.update(make_spec("other", str(tmp_path)))
        # a source stored before globs existed reads back without any
        old = {k: v for k, v in spec.body().items() if k not in ("include", "exclude")}
        assert SourceSpec.from_body(old).globs == KeyFilter()
    finally:
        store.close()


def test_folder_listing_and_watch_filter_apply_globs(tmp_path: Path) -> None:
    from citewise.settings import Settings
    from ingest.sources.listing import SourceReader

    folder = tmp_path / "docs"
    for rel in ("a.pdf", "notes.txt", "docs/guide.md", "docs/drafts/plan.md", "x/drafts/b.pdf", "x/c.pdf"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(rel)
    spec = make_spec("docs", str(folder), include=["*.pdf", "docs/**"], exclude=["**/drafts/**"])
    listed = SourceReader(spec, Settings()).objects()
    assert [o.key for o in listed] == ["a.pdf", "docs/guide.md", "x/c.pdf"]

    events = SourceEvents(Path(spec.uri), spec.globs)
    root = Path(spec.uri)
    assert events(None, str(root / "a.pdf")) and not events(None, str(root / "notes.txt"))
    assert not events(None, str(root / "docs/drafts/plan.md"))  # a draft saved again: no sync
    assert events(None, str(root / "x"))  # a folder: may hold selected files
    assert events(None, str(root / "gone"))  # deleted (a file or a folder of selected files): a sync prunes
    assert not events(None, str(root / "x/drafts/gone.pdf"))  # deleted, but excluded by name
    assert not events(None, str(root / "a.pdf.swp"))  # watchfiles' own filter still applies


def test_watch_ignores_excluded_files_and_restarts_when_the_globs_change(tmp_path: Path) -> None:
    """Real folder events through the runner: a file the globs leave out triggers no sync, one they select does;
    changed globs restart the watch with a catch-up sync (which prunes what they now leave out)."""
    import time

    from ingest.sources.runner import SourceRunner

    store = SourceStore(tmp_path / "data", "citewise")
    folder = tmp_path / "watched"
    (folder / "drafts").mkdir(parents=True)
    store.add(make_spec("folder", str(folder), watch=True, exclude=["drafts/"]))
    submitted: list[str] = []
    runner = SourceRunner(store, submitted.append, tick_s=0.05, debounce_ms=50)

    def ticks(seconds: float, until: int) -> None:
        deadline = time.monotonic() + seconds
        while len(submitted) < until and time.monotonic() < deadline:
            runner.tick()
            time.sleep(0.05)

    try:
        runner.tick()
        assert submitted == ["folder"]  # catch-up
        time.sleep(1.0)  # the watch thread sets up its inotify watch
        (folder / "drafts" / "plan.txt").write_text("an excluded draft")
        ticks(1.5, until=2)
        assert submitted == ["folder"]
        (folder / "notes.txt").write_text("a selected file")
        ticks(10, until=2)
        assert submitted == ["folder", "folder"]
        store.update(with_globs(store.get("folder"), exclude=["*.txt"]))
        runner.tick()
        assert submitted == ["folder", "folder", "folder"]  # the watch restarted with the new globs: catch-up
        assert [key[3] for key in runner._watches] == [("*.txt",)]
    finally:
        runner.close()
        store.close()
