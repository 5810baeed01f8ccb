"""The ingest progress the CLI shows: a live bar on a terminal, else a line every ``every_s`` seconds on stderr.

Lines are driven by a clock, not by the pipeline's events: the pipeline reports after each file and each written
slice, which on a slow machine or a large PDF can be minutes apart, while the promise is a line at the start and
then one every ``CITEWISE_INGEST__PROGRESS_EVERY_S`` (10 s) with files/s, chunks/s and an ETA from the planned
total. Between events a line repeats the latest counts with the rates over the time elapsed so far.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from citewise.commands.common import err_console


def progress_line(event: Any, elapsed_s: float) -> str:
    """``ingest <phase>: done/total files, failed, chunks (files/s, chunks/s, ETA)`` for ``event`` at ``elapsed_s``."""
    rate_f = event.files_done / elapsed_s if elapsed_s > 0 else 0.0
    rate_c = event.chunks_written / elapsed_s if elapsed_s > 0 else 0.0
    left = event.files_total - event.files_done
    eta = f", ETA {_duration(left / rate_f)}" if event.phase == "ingest" and rate_f > 0 and left > 0 else ""
    return (
        f"ingest {event.phase}: {event.files_done}/{event.files_total} files, {event.files_failed} failed, "
        f"{event.chunks_written} chunks ({rate_f:.1f} files/s, {rate_c:.1f} chunks/s{eta}) after {elapsed_s:.0f} s"
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressReporter:
    """A live bar (files/s, chunks/s, ETA) on a terminal; otherwise a line on stderr at the first event, then
    every ``every_s`` seconds (from a timer thread, so a long step never silences it), and at the end."""

    def __init__(self, tty: bool, every_s: float = 10.0) -> None:
        if every_s <= 0:
            raise ValueError("every_s must be > 0")
        self.tty = tty
        self.every_s = every_s
        self._latest: tuple[Any, float] | None = None  # (event, monotonic time it arrived)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, event: Any) -> None:
        if self.tty:
            self._draw(event)
            return
        with self._lock:
            first = self._latest is None
            self._latest = (event, time.monotonic())
        if event.phase == "done":
            self.close()
            self._print(event, event.elapsed_s)
        elif first:
            self._print(event, event.elapsed_s)
            self._timer = threading.Thread(target=self._tick, name="ingest-progress", daemon=True)
            self._timer.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.every_s):
            with self._lock:
                if self._latest is None:
                    continue
                event, at = self._latest
            self._print(event, event.elapsed_s + time.monotonic() - at)

    def _print(self, event: Any, elapsed_s: float) -> None:
        err_console.print(progress_line(event, elapsed_s), highlight=False, soft_wrap=True)

    def _draw(self, event: Any) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} files"),
                TextColumn("{task.fields[rates]}"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("ingest", total=max(event.files_total, 1), rates="")
        elapsed = event.elapsed_s
        rate_f = event.files_done / elapsed if elapsed else 0.0
        rate_c = event.chunks_written / elapsed if elapsed else 0.0
        rates = f"{rate_f:.1f} files/s {rate_c:.1f} chunks/s, {event.files_failed} failed"
        self._bar.update(self._task, completed=event.files_done, total=max(event.files_total, 1), rates=rates)

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join(timeout=5)
        self._timer = None
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
