"""``SourceRunner``: in a long-running process (``citewise serve``), sync sources when they are due.

- A **watched** folder (``--watch``) is watched with ``watchfiles`` (the Rust ``notify`` backend: inotify,
  FSEvents, ReadDirectoryChangesW), recursively; changes within ``CITEWISE_SOURCES__WATCH_DEBOUNCE_MS`` of
  each other are one event. Any event (create, change, rename, delete) makes the source due: its sync lists the
  folder and carries every change through (a rename is a delete plus a create). A watched source is also synced
  once when the runner first sees it, to catch up on what changed while nothing was watching.
- A **scheduled** source (``--schedule CRON``) is due at each time its cron expression names (``croniter``, in
  the server's local time); missed times while the server was down are not replayed.

Every ``CITEWISE_SOURCES__TICK_S`` the runner re-reads the store (sources added or removed by the CLI or the API
are picked up) and hands each due source to ``submit(name)``; if that raises (e.g. the job queue is full) the
source stays due and is tried again at the next tick. The runner never writes the index itself.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citewise.telemetry import get_logger
from ingest.sources.globs import KeyFilter
from ingest.sources.spec import SourceSpec
from ingest.sources.store import SourceStore

log = get_logger(__name__)
WatchKey = tuple[str, str, tuple[str, ...], tuple[str, ...]]


class SourceEvents:
    """Which file events of a watched folder may change its source's listing (watchfiles' ``watch_filter``).

    Besides watchfiles' default filter (editor swap files, ``.git`` ...): an existing file counts only if the
    source's globs select it (a draft saved over and over under an excluded folder triggers no sync); an existing
    folder always counts (it may hold selected files); a path that is gone (deleted, renamed away) counts unless
    an exclude glob leaves it out (it may have been a folder of selected files: its sync prunes them)."""

    def __init__(self, folder: Path, globs: KeyFilter) -> None:
        from watchfiles import DefaultFilter

        self.folder = folder
        self.globs = globs
        self.default = DefaultFilter()

    def __call__(self, change: Any, path: str) -> bool:
        if not self.default(change, path):
            return False
        if not self.globs:
            return True
        found = Path(path)
        try:
            key = found.relative_to(self.folder).as_posix()
        except ValueError:
            return True
        if found.is_file():
            return self.globs.selects(key)
        return found.exists() or not self.globs.excludes(key)


class FolderWatch:
    """A thread watching one folder; ``on_change()`` after each debounced batch of file events that ``globs`` (the
    source's include/exclude) say may matter (``SourceEvents``)."""

    def __init__(
        self, folder: Path, on_change: Callable[[], None], debounce_ms: int, globs: KeyFilter | None = None
    ) -> None:
        self.folder = folder
        self.on_change = on_change
        self.debounce_ms = debounce_ms
        self.globs = globs or KeyFilter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"citewise-watch-{folder.name}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        from watchfiles import watch

        try:
            for changes in watch(
                self.folder,
                watch_filter=SourceEvents(self.folder, self.globs),
                debounce=self.debounce_ms,
                step=min(50, self.debounce_ms),
                stop_event=self._stop,
                raise_interrupt=False,
                rust_timeout=1000,
                yield_on_timeout=False,
            ):
                log.info("sources.changed", folder=str(self.folder), events=len(changes))
                self.on_change()
        except Exception as exc:  # the folder vanished, too many watches ...: the schedule/tick still run
            log.warning("sources.watch_stopped", folder=str(self.folder), error=repr(exc))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class SourceRunner:
    def __init__(
        self,
        store: SourceStore,
        submit: Callable[[str], object],
        *,
        tick_s: float = 2.0,
        debounce_ms: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.submit = submit
        self.tick_s = tick_s
        self.debounce_ms = debounce_ms
        self.clock = clock
        self._due: set[str] = set()
        self._next: dict[tuple[str, str], float] = {}  # (name, cron) -> next time it is due
        self._watches: dict[WatchKey, FolderWatch] = {}  # (name, folder, include, exclude)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="citewise-sources", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for watch in list(self._watches.values()):
            watch.close()
        self._watches.clear()

    def mark_due(self, name: str) -> None:
        with self._lock:
            self._due.add(name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a locked or unreadable store: try again at the next tick
                log.warning("sources.tick_failed", error=repr(exc))
            self._stop.wait(self.tick_s)

    def tick(self) -> None:
        """Re-read the sources, start and stop watches, mark cron sources due, submit what is due."""
        specs = self.store.list()
        now = self.clock()
        self._reconcile_watches([s for s in specs if s.watch and s.is_local])
        crons = {(s.name, s.schedule) for s in specs if s.schedule}
        for key in list(self._next):
            if key not in crons:
                del self._next[key]
        for name, schedule in sorted(crons):
            due_at = self._next.get((name, schedule))
            if due_at is None:
                self._next[(name, schedule)] = _next_time(schedule, now)
            elif now >= due_at:
                self.mark_due(name)
                self._next[(name, schedule)] = _next_time(schedule, now)
        known = {s.name for s in specs}
        with self._lock:
            due = sorted(self._due & known)
            self._due &= known
        for name in due:
            try:
                self.submit(name)
            except Exception as exc:
                log.warning("sources.submit_failed", source=name, error=repr(exc), note="tried again next tick")
                continue
            with self._lock:
                self._due.discard(name)

    def _reconcile_watches(self, watched: list[SourceSpec]) -> None:
        wanted = {(s.name, s.uri, s.include, s.exclude) for s in watched}
        for key in list(self._watches):
            if key not in wanted or not self._watches[key].alive:  # removed, edited, or its folder vanished
                self._watches.pop(key).close()
        for key in sorted(wanted - set(self._watches)):
            name, uri, include, exclude = key
            folder = Path(uri)
            if not folder.is_dir():
                continue  # unmounted: tried again next tick (its sync would fail without pruning anything)
            on_change = functools.partial(self.mark_due, name)
            self._watches[key] = FolderWatch(folder, on_change, self.debounce_ms, KeyFilter(include, exclude))
            self.mark_due(name)  # catch up on changes made while nothing watched (or under the old globs)
            log.info("sources.watching", source=name, folder=uri)


def _next_time(schedule: str, now: float) -> float:
    """The next time after ``now`` that ``schedule`` names, read in the local time zone (as cron reads it)."""
    from datetime import datetime

    from croniter import croniter

    return float(croniter(schedule, datetime.fromtimestamp(now).astimezone()).get_next(float))
