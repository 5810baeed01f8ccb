"""The CLI's ingest progress off a terminal: a clock drives the lines, not the pipeline's events."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from citewise.commands.progress import ProgressReporter, progress_line
from citewise.errors import ConfigError
from citewise.settings import load_settings


def _event(phase: str, done: int, chunks: int, elapsed_s: float) -> SimpleNamespace:
    return SimpleNamespace(
        phase=phase, files_total=100, files_done=done, files_failed=0, chunks_written=chunks, elapsed_s=elapsed_s
    )


def test_line_has_rates_and_an_eta_from_the_planned_total() -> None:
    line = progress_line(_event("ingest", 25, 60, 10.0), 10.0)
    assert line == "ingest ingest: 25/100 files, 0 failed, 60 chunks (2.5 files/s, 6.0 chunks/s, ETA 30 s) after 10 s"
    assert "ETA 2 min 15 s" in progress_line(_event("ingest", 10, 0, 15.0), 15.0)
    assert "ETA" not in progress_line(_event("scan", 0, 0, 0.5), 0.5)


def test_lines_keep_coming_while_the_pipeline_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = ProgressReporter(tty=False, every_s=0.1)
    reporter(_event("scan", 0, 0, 0.2))  # a line at once, then the clock
    time.sleep(0.55)  # one long step: no event at all
    reporter(_event("done", 100, 250, 1.0))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("ingest scan: 0/100") and lines[-1].startswith("ingest done: 100/100")
    assert len(lines) >= 4  # the first, at least 3 from the clock, the last
    time.sleep(0.25)
    assert capsys.readouterr().err == ""  # stopped with the run


def test_interval_setting_is_validated(clean_env: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_INGEST__PROGRESS_EVERY_S", "2.5")
    assert load_settings().ingest.progress_every_s == 2.5
    monkeypatch.setenv("CITEWISE_INGEST__PROGRESS_EVERY_S", "0")
    with pytest.raises(ConfigError, match="CITEWISE_INGEST__PROGRESS_EVERY_S"):
        load_settings()
