"""Issue 14, finding 2 (the cron case): `citewise serve` owns the data dir, and `citewise ingest` (then `search`,
`ask`, `index stats`, `documents delete`) on the same data dir hand their work to it, with a local run's output
and exit codes. A real server subprocess, the real CLI, real corpus files."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from tests.env_support import clean_environ, without_citewise
from tests.ingest_support import one_json_object
from tests.net import free_port
from tests.paths import CORPUS, REPO, require

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner()
GOOD = ["README.md", "fake-text.txt", "stanley-cups.csv"]


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    data: Path
    url: str
    env: dict[str, str]


def _env(data: Path) -> dict[str, str]:
    env = clean_environ()
    env.update(
        PYTHONPATH=str(REPO),
        CITEWISE_DATA_DIR=str(data),
        CITEWISE_ENCODER__BACKEND="torch",  # the HF cache's model as is (no ONNX export into a fresh data dir)
        CITEWISE_RETRIEVAL__RERANK="false",
    )
    return env


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "citewise serve exited during start-up"
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("citewise serve did not become ready")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("handoff") / "data"
    port = free_port()
    env = _env(data)
    cmd = [sys.executable, "-m", "citewise.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield Server(proc, data, url, env)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def cli_env(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The CLI (in this process) sees the server's data dir, as a cron job on the same machine would."""
    without_citewise(monkeypatch)
    for key, value in server.env.items():
        if key.startswith("CITEWISE_"):
            monkeypatch.setenv(key, value)
    return server


def _tree(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True)
    for name in names:
        shutil.copy(require(CORPUS) / name, root / name)
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_ingest_is_handed_to_the_server_with_a_local_runs_output_and_exit_codes(
    cli_env: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _tree(tmp_path / "docs", [*GOOD, "empty.txt"])
    first = runner.invoke(app, ["ingest", str(docs), "--json", "--tag", "team=docs"])
    assert first.exit_code == 3, first.output  # empty.txt fails: the same exit code as a local run
    assert "the server runs this ingest (job" in first.stderr and cli_env.url in first.stderr
    summary = one_json_object(first)
    assert set(summary) == {"files", "chunks", "failures", "elapsed_s", "collection"}
    assert summary["files"] == {"ingested": 3, "unchanged": 0, "changed": 0, "removed": 0, "failed": 1}
    assert summary["chunks"]["added"] >= 3 and summary["collection"] == "citewise"
    [failure] = summary["failures"]
    assert failure["path"] == str((docs / "empty.txt").resolve()) and "empty file" in failure["reason"]

    # the human summary, from a relative path (the server is sent absolute paths: it has its own cwd)
    (docs / "empty.txt").unlink()
    monkeypatch.chdir(tmp_path)
    again = runner.invoke(app, ["ingest", "docs", "--tag", "team=docs"])
    assert again.exit_code == 0, again.output
    assert "ingest finished in" in again.stdout and "unchanged" in again.stdout
    assert "could not be ingested" not in again.stdout

    # the documents are in the server's index: search through the server (the CLI cannot open it)
    hits = one_json_object(runner.invoke(app, ["search", "Stanley Cup champions", "--json", "--k", "3"]))
    assert hits["hits"] and Path(hits["hits"][0]["source"]).parent == docs.resolve()
    found = runner.invoke(app, ["search", "Stanley Cup champions", "--k", "3"])
    assert found.exit_code == 0 and "3 hits" in found.stdout


def test_read_commands_go_through_the_server_and_leave_its_files_alone(cli_env: Server) -> None:
    before = _snapshot(cli_env.data / "index")
    stats = runner.invoke(app, ["index", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    data = one_json_object(stats)
    assert data["backend"] == "embedded" and data["documents"] == 3 and data["points"] >= 3
    assert "points" in runner.invoke(app, ["index", "stats"]).stdout
    asked = runner.invoke(app, ["ask", "Who won the Stanley Cup?", "--json"])
    assert asked.exit_code in (0, 4), asked.output  # answered or abstained: the local run's codes
    assert "citations" in one_json_object(asked)
    chatted = runner.invoke(app, ["chat", "--json"], input="Who won the Stanley Cup?\nand when?\n")
    assert chatted.exit_code == 0, chatted.output  # answered by the server, the conversation kept in the data dir
    turns = [json.loads(line) for line in chatted.stdout.strip().splitlines()]
    assert [(t["turn"], t["rewrite"]) for t in turns] == [(1, "none"), (2, "rule")]
    assert turns[1]["rewritten_question"] == "When (about: the Stanley Cup)?" and "citations" in turns[1]["answer"]
    wrong = runner.invoke(app, ["search", "cup", "--collection", "other"])
    assert wrong.exit_code == 2 and "serves collection 'citewise'" in wrong.stderr
    assert _snapshot(cli_env.data / "index") == before, "a read through the server changed the index files"


def test_two_ingests_at_once_queue_on_the_server(cli_env: Server, tmp_path: Path) -> None:
    a = _tree(tmp_path / "a", ["book-war-and-peace-1p.txt"])
    b = _tree(tmp_path / "b", ["README.rst"])
    cmd = [sys.executable, "-m", "citewise.cli", "ingest", "--json"]
    runs = [
        subprocess.Popen([*cmd, str(p)], env=cli_env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for p in (a, b)
    ]
    results = [(p.wait(120), p.communicate()) for p in runs]
    for rc, (out, err) in results:
        assert rc == 0, err.decode()
        assert json.loads(out)["files"]["ingested"] == 1, out
        assert b"the server runs this ingest" in err


def test_ctrl_c_cancels_the_servers_job_and_says_how_to_resume(cli_env: Server, tmp_path: Path) -> None:
    docs = _tree(tmp_path / "many", ["book-war-and-peace-1p.txt", "README.org", "example-10k-1p.html", "codeblock.md"])
    cmd = [sys.executable, "-m", "citewise.cli", "ingest", str(docs)]
    proc = subprocess.Popen(cmd, env=cli_env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "the server runs this ingest" in line:
            break
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled on the citewise server" in err and "re-run the same command to resume" in err
    assert "Traceback" not in err


def test_documents_delete_through_the_server(cli_env: Server) -> None:
    listed = one_json_object(runner.invoke(app, ["documents", "list", "--json"]))  # the docstore is readable alongside
    doc = next(d for d in listed["documents"] if d["source"].endswith("README.rst"))
    gone = runner.invoke(app, ["documents", "delete", doc["doc_id"]])
    assert gone.exit_code == 0 and f"Deleted document {doc['doc_id']}" in gone.stdout
    unknown = runner.invoke(app, ["documents", "delete", doc["doc_id"]])
    assert unknown.exit_code == 1 and "not_found" in unknown.stderr


def test_sources_next_to_the_server(cli_env: Server, tmp_path: Path) -> None:
    """`sources add` beside a running server: it picks up a watched folder and syncs it; `sources sync` and
    `remove --purge` are handed to it (the CLI cannot open the index)."""

    def sources() -> set[str]:
        listed = one_json_object(runner.invoke(app, ["documents", "list", "--json", "--limit", "500"]))
        return {d["source"] for d in listed["documents"]}

    watched = _tree(tmp_path / "watched", ["fake-email.txt"])
    assert runner.invoke(app, ["sources", "add", "watched", str(watched), "--watch"]).exit_code == 0
    deadline = time.monotonic() + 60
    while str(watched.resolve() / "fake-email.txt") not in sources():
        assert time.monotonic() < deadline, "the server did not sync the watched folder it was given"
        time.sleep(0.3)
    shutil.copy(require(CORPUS) / "codeblock.md", watched / "codeblock.md")
    while str(watched.resolve() / "codeblock.md") not in sources():
        assert time.monotonic() < deadline, "the server did not pick up a new file in the watched folder"
        time.sleep(0.3)

    manual = _tree(tmp_path / "manual", ["README.org"])
    assert runner.invoke(app, ["sources", "add", "manual", str(manual)]).exit_code == 0
    synced = runner.invoke(app, ["sources", "sync", "manual", "--json"])
    assert synced.exit_code == 0, synced.output
    assert "the server runs this ingest (job" in synced.stderr
    assert synced.stderr.count("ingest done") == 1, synced.stderr  # once, at the end
    body = one_json_object(synced)
    assert [r["source"] for r in body["sources"]] == ["manual"] and body["files"]["ingested"] == 1
    assert str(manual.resolve() / "README.org") in sources()

    purged = runner.invoke(app, ["sources", "remove", "manual", "--purge", "--json"])
    assert purged.exit_code == 0, purged.output
    assert one_json_object(purged) == {"source": "manual", "documents_deleted": 1}
    assert str(manual.resolve() / "README.org") not in sources()
    purged = runner.invoke(app, ["sources", "remove", "watched", "--purge", "--json"])
    assert one_json_object(purged) == {"source": "watched", "documents_deleted": 2}


def test_a_wrong_token_is_a_clear_error(cli_env: Server, tmp_path: Path) -> None:
    token = cli_env.data / "server.token"
    real = token.read_text()
    token.write_text("not-the-token")
    try:
        docs = _tree(tmp_path / "docs", ["README.md"])
        refused = runner.invoke(app, ["ingest", str(docs)])
        assert refused.exit_code == 1
        assert "refused the local token" in refused.stderr and "server.token" in refused.stderr
    finally:
        token.write_text(real)


def test_no_handoff_and_wait_keep_their_meaning_and_touch_nothing(cli_env: Server, tmp_path: Path) -> None:
    docs = _tree(tmp_path / "docs", ["README.md"])
    before = _snapshot(cli_env.data / "index")
    refused = runner.invoke(app, ["ingest", str(docs), "--no-handoff"])
    assert refused.exit_code == 1 and "data_dir_busy" in refused.stderr and str(cli_env.proc.pid) in refused.stderr
    waited = runner.invoke(app, ["ingest", str(docs), "--wait", "--wait-timeout", "0.5"])
    assert waited.exit_code == 1 and "waiting for the data dir" in waited.stderr
    assert _snapshot(cli_env.data / "index") == before


def test_after_the_server_stops_the_index_and_docstore_agree(cli_env: Server) -> None:
    cli_env.proc.terminate()
    cli_env.proc.wait(60)
    assert not (cli_env.data / "server.json").exists()
    check = runner.invoke(app, ["index", "check", "--json"])
    assert check.exit_code == 0, check.output
    report = one_json_object(check)
    assert report["clean"] and report["lost"] == 0 and report["duplicated"] == 0


def test_a_stale_card_is_ignored_and_the_run_is_local(clean_env: Path) -> None:
    data = clean_env / "data"
    data.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid, "collection": "c"}))
    (data / "server.token").write_text("old")
    # the same look-up as `ingest` (citewise.commands.handoff.find_server), without loading the encoder here
    local = runner.invoke(app, ["index", "stats", "--json"])
    assert local.exit_code == 0, local.output
    assert "ignoring a stale server.json" in local.stderr and "not running" in local.stderr
    assert one_json_object(local)["backend"] == "embedded"
    assert not (data / "server.json").exists() and not (data / "server.token").exists(), "the lock removes the card"


def test_ask_stream_and_no_rerank_go_through_the_server(cli_env: Server) -> None:
    question = "Who won the Stanley Cup?"
    asked = runner.invoke(app, ["ask", question, "--json", "--no-rerank"])
    assert asked.exit_code in (0, 4), asked.output
    expected = one_json_object(asked)["answer"]
    streamed = runner.invoke(app, ["ask", question, "--stream", "--no-rerank"])
    assert streamed.exit_code == asked.exit_code, streamed.output
    assert " ".join(expected.split())[:60] in " ".join(streamed.stdout.split()), streamed.stdout
    empty = runner.invoke(app, ["ask", "   ", "--stream"])
    assert empty.exit_code == 2 and "the question is empty" in empty.stderr  # a 4xx before the stream starts
