"""The server card (``server.json``, ``server.token``) the CLI reads before handing work to `citewise serve`:
wrong values are refused with a message naming the file, the field and what to do."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from citewise.commands.handoff import find_server, summary_from_json
from citewise.datadir import (
    LOCK_FILE,
    ServerCard,
    ServerCardError,
    parse_server_card,
    read_server_card,
    read_token,
    stale_reason,
)

WHERE = Path("/data/server.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"url": "http://127.0.0.1:8000", "pid": "12"}', "pid must be a positive integer, not '12'"),
        ('{"url": "http://127.0.0.1:8000", "pid": true}', "pid must be a positive integer"),
        ('{"url": "http://127.0.0.1:8000", "pid": -4}', "pid must be a positive integer, not -4"),
        ('{"url": "http://127.0.0.1:8000"}', "pid must be a positive integer, not None"),
        ('{"url": "http://10.0.0.7:8000", "pid": 12}', "only ever sent to a loopback address"),
        ('{"url": "https://127.0.0.1:8000", "pid": 12}', "must be an http:// URL on this machine"),
        ('{"url": "http://127.0.0.1", "pid": 12}', "must be an http:// URL on this machine"),
        ('{"url": "http://127.0.0.1:99999", "pid": 12}', "must be an http:// URL on this machine"),
        ('{"pid": 12}', "url must be"),
        ('{"url": "http://[::1]:8000", "pid": 12, "collection": 3}', "collection must be a string"),
    ],
)
def test_a_malformed_card_is_refused_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(ServerCardError) as err:
        parse_server_card(text, WHERE)
    assert expected in err.value.message and str(WHERE) in err.value.message
    assert "restart the server" in err.value.message  # what to do


def test_a_good_card_parses() -> None:
    card = parse_server_card('{"url": "http://[::1]:8000/", "pid": 12, "collection": "docs"}', WHERE)
    assert card == ServerCard("http://[::1]:8000", 12, "docs")
    assert parse_server_card('{"url": "http://localhost:1", "pid": 1}', WHERE).collection == ""


def test_no_card_is_none_and_a_missing_or_empty_token_says_what_to_do(tmp_path: Path) -> None:
    assert read_server_card(tmp_path) is None
    with pytest.raises(ServerCardError, match=r"server\.token is missing.*restart the server"):
        read_token(tmp_path)
    (tmp_path / "server.token").write_text("  \n")
    with pytest.raises(ServerCardError, match="is empty; restart the server"):
        read_token(tmp_path)
    (tmp_path / "server.token").write_text("tok\n")
    assert read_token(tmp_path) == "tok"


@pytest.mark.may_skip_in_ci  # by design: root reads any file
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_token_names_the_user_to_run_as(tmp_path: Path) -> None:
    token = tmp_path / "server.token"
    token.write_text("tok")
    token.chmod(0)
    with pytest.raises(ServerCardError, match=r"permission denied.*as that user"):
        read_token(tmp_path)


@pytest.fixture()
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture()
def locked(tmp_path: Path) -> Iterator[Path]:
    """The data dir's lock held by an open file description of its own, as another process would hold it."""
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, json.dumps({"pid": os.getpid(), "command": "citewise serve"}).encode())
    try:
        yield tmp_path
    finally:
        os.close(fd)


def _cfg(data_dir: Path, backend: str = "embedded") -> SimpleNamespace:
    return SimpleNamespace(data_dir=data_dir, qdrant=SimpleNamespace(backend=backend))


def _card(data_dir: Path, pid: int) -> None:
    (data_dir / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": pid, "collection": "c"}))


def test_stale_cards_are_ignored_with_the_reason(tmp_path: Path, dead_pid: int) -> None:
    _card(tmp_path, dead_pid)
    assert stale_reason(tmp_path, ServerCard("http://127.0.0.1:9", dead_pid, "c")) == (
        f"its server (pid {dead_pid}) is not running"
    )
    assert find_server(_cfg(tmp_path)) is None
    _card(tmp_path, os.getpid())  # alive, but nobody holds the lock
    assert "does not hold the data dir's lock" in str(stale_reason(tmp_path, ServerCard("x", os.getpid(), "c")))
    assert find_server(_cfg(tmp_path)) is None


def test_a_card_whose_pid_is_not_the_lock_owner_is_stale(locked: Path) -> None:
    other = os.getppid()  # alive, but the lock file names this process
    reason = stale_reason(locked, ServerCard("http://127.0.0.1:9", other, "c"), settle_s=0)
    assert reason == f"the data dir's lock is held by pid {os.getpid()}, not by the server's pid {other}"


def test_a_live_card_needs_its_token_and_a_corrupt_one_is_an_error_while_the_dir_is_owned(locked: Path) -> None:
    _card(locked, os.getpid())
    with pytest.raises(ServerCardError, match=r"server\.token is missing"):
        find_server(_cfg(locked))
    (locked / "server.token").write_text("tok")
    server = find_server(_cfg(locked))
    assert server is not None and server.token == "tok" and server.card.pid == os.getpid()
    assert find_server(_cfg(locked, backend="server")) is None  # the server backend shares nothing
    (locked / "server.json").write_text("{oops")
    with pytest.raises(ServerCardError, match="is not valid JSON"):
        find_server(_cfg(locked))


def test_a_corrupt_card_without_an_owner_is_left_for_the_local_run(tmp_path: Path) -> None:
    (tmp_path / "server.json").write_text("{oops")
    assert find_server(_cfg(tmp_path)) is None


def test_the_servers_summary_becomes_an_ingest_summary() -> None:
    summary = summary_from_json(
        {
            "files": {"ingested": 1, "unchanged": 2, "changed": 0, "removed": 0, "failed": 1},
            "chunks": {"added": 4, "removed": 0},
            "failures": [{"path": "/d/empty.txt", "reason": "empty file"}],
            "elapsed_s": 1.5,
        }
    )
    assert summary.files.unchanged == 2 and summary.chunks.added == 4 and not summary.ok
    assert summary.failures[0].path == "/d/empty.txt" and summary.elapsed_s == 1.5


def test_a_handed_over_run_lost_in_a_restart_fails_with_the_way_out(tmp_path: Path) -> None:
    """After a restart the server has the stored job but not the run's paths and options: the job ends failed
    saying to re-run the command, before any index write (so /readyz does not report failing writes)."""
    import time
    from functools import partial

    from api.jobs import JobManager
    from api.local import LocalIngests
    from api.services import Services

    owner = SimpleNamespace(local_ingests=LocalIngests(), write_failure=None)
    jobs = JobManager(partial(Services._run_tracked, owner), uploads=tmp_path)  # type: ignore[arg-type]
    try:
        job = jobs.submit("default", tmp_path / "local-lost", {})
        deadline = time.monotonic() + 10
        while job.state not in ("done", "failed", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job.state == "failed" and "re-run the same command" in (job.error or "")
        assert job.error is not None and job.error.startswith("IngestError:")
        assert owner.write_failure is None
    finally:
        jobs.close()
