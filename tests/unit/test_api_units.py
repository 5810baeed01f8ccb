"""API parts without models: keys file, roles, upload names, exposure check, feedback store, job worker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from api.auth import OPEN, KeyRing
from api.errors import validation_message
from api.feedback import FeedbackStore
from api.jobs import JobManager
from api.routes.ingest import safe_name
from citewise.commands.serve import check_exposure
from citewise.errors import AuthError, ConfigError, Forbidden, IndexUnavailable, NotFound
from citewise.types import Answer, Citation


def _keys(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_keyring_authenticates_bearer_keys_and_orders_roles(tmp_path: Path) -> None:
    ring = KeyRing.load(_keys(tmp_path, {"k" * 20: {"tenant": "acme", "role": "writer"}}))
    principal = ring.authenticate("Bearer " + "k" * 20)
    assert (principal.tenant, principal.role) == ("acme", "writer")
    assert principal.require("reader") is principal and principal.require("writer") is principal
    with pytest.raises(Forbidden, match="'admin' role"):
        principal.require("admin")
    for header in (None, "", "Bearer ", "Basic " + "k" * 20, "Bearer wrong-key-0000000000"):
        with pytest.raises(AuthError):
            ring.authenticate(header)
    assert "k" * 20 not in repr(ring.__dict__)  # only digests are kept


def test_open_keyring_is_the_default_tenant_as_admin() -> None:
    ring = KeyRing.load(None)
    assert ring.open and ring.authenticate(None) is OPEN and OPEN.role == "admin"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "cannot read it as JSON"),
        ([], "non-empty object"),
        ({"short": {"tenant": "a", "role": "reader"}}, "at least 16"),
        ({"k" * 20: "reader"}, '"tenant"'),
        ({"k" * 20: {"tenant": "a b", "role": "reader"}}, "tenant must be"),
        ({"k" * 20: {"tenant": "a", "role": "owner"}}, "role must be one of reader, writer, admin"),
    ],
)
def test_bad_keys_files_say_what_is_wrong(tmp_path: Path, content: Any, needle: str) -> None:
    with pytest.raises(ConfigError, match="CITEWISE_API_KEYS_FILE") as info:
        KeyRing.load(_keys(tmp_path, content))
    assert needle in info.value.message


def test_missing_keys_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        KeyRing.load(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        (".hidden.md", "hidden.md"),
        ("a/b/ünïcode name?.txt", "_n_code name_.txt"),
        ("", "upload"),
        (None, "upload"),
        ("...", "upload"),
    ],
)
def test_upload_names_are_reduced_to_a_safe_base_name(name: str | None, expected: str) -> None:
    assert safe_name(name) == expected


def test_serving_open_off_loopback_needs_an_explicit_choice() -> None:
    check_exposure("127.0.0.1", has_keys=False, allow_open=False)
    check_exposure("::1", has_keys=False, allow_open=False)
    check_exposure("localhost", has_keys=False, allow_open=False)
    check_exposure("0.0.0.0", has_keys=True, allow_open=False)
    check_exposure("0.0.0.0", has_keys=False, allow_open=True)
    with pytest.raises(ConfigError, match="CITEWISE_API_KEYS_FILE"):
        check_exposure("0.0.0.0", has_keys=False, allow_open=False)


def test_validation_messages_name_the_field() -> None:
    errors = [{"loc": ("body", "k"), "msg": "Input should be less than or equal to 100"}, {"loc": (), "msg": "bad"}]
    assert validation_message(errors) == "k: Input should be less than or equal to 100; request: bad"


def _answer(answer_id: str) -> Answer:
    cite = Citation(1, "d1", "c1", "upload:a.txt", "A", 2, 0, 5, "Hello")
    return Answer("Hello [1].", False, (cite,), (), "v1", "extractive", answer_id=answer_id)


def test_feedback_is_durable_and_scoped_to_the_tenant_that_got_the_answer(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path)
    store.record_answer("acme", "Who?", _answer("ans-1"))
    first = store.add("acme", "ans-1", "up", "good", None, "rid-1")
    store.add("acme", "ans-1", "down", None, "Hello world", "rid-2")
    with pytest.raises(NotFound):
        store.add("beta", "ans-1", "up", None, None, "rid-3")
    with pytest.raises(NotFound):
        store.add("acme", "unknown", "up", None, None, "rid-4")
    store.close()
    reopened = FeedbackStore(tmp_path)
    rows = reopened.list("acme")
    assert rows[0]["feedback_id"] == first and [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["question"] == "Who?" and rows[0]["citations"][0]["quote"] == "Hello"
    assert rows[1]["correction"] == "Hello world" and rows[1]["request_id"] == "rid-2"
    assert reopened.count("acme", "down") == 1 and reopened.list("beta") == [] and reopened.count("beta") == 0
    reopened.close()


def test_job_worker_runs_jobs_in_order_and_records_outcomes(tmp_path: Path) -> None:
    gate = threading.Event()
    seen: list[str] = []
    finished: list[str] = []

    def runner(job: Any, progress: Any) -> Any:
        gate.wait(5)
        seen.append(job.job_id)
        if "boom" in job.files.values():
            raise IndexUnavailable("index went away")
        progress(SimpleNamespace(files_total=2, files_done=2, files_failed=1, chunks_written=7, phase="done"))
        failure = SimpleNamespace(path=str(tmp_path / "x" / "b.bin"), reason="no loader for .bin")
        files = SimpleNamespace(ingested=1, changed=0, unchanged=0, failed=1)
        return SimpleNamespace(
            failures=[failure], files=files, chunks=SimpleNamespace(added=7, removed=0), elapsed_s=0.1
        )

    jobs = JobManager(runner, on_finish=lambda job: finished.append(job.state))
    folder = tmp_path / "x"
    folder.mkdir()
    ok = jobs.submit("acme", folder, {str(folder / "a.txt"): "a.txt", str(folder / "b.bin"): "b.bin"})
    bad = jobs.submit("acme", tmp_path / "y", {str(tmp_path / "y" / "c"): "boom"})
    while ok.state == "queued":  # the worker takes the first job and waits at the gate
        time.sleep(0.01)
    assert jobs.get(ok.job_id, "acme").public()["state"] == "running" and bad.public()["state"] == "queued"
    with pytest.raises(NotFound):
        jobs.get(ok.job_id, "beta")
    gate.set()
    deadline = time.monotonic() + 10
    while len(finished) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [ok.job_id, bad.job_id] and finished == ["done", "failed"]
    out = ok.public()
    assert out["progress"]["fraction"] == 1.0 and out["progress"]["chunks_written"] == 7
    assert (
        out["progress"]["files_per_s"] > 0 and out["progress"]["chunks_per_s"] > 0 and out["progress"]["eta_s"] is None
    )
    assert out["failures"] == [{"file": "b.bin", "reason": "no loader for .bin"}]
    assert not folder.exists()  # uploads are removed once ingested
    assert bad.public()["state"] == "failed" and bad.public()["error"] == "IndexUnavailable: index went away"
    # on shutdown the running job finishes and queued ones fail with a reason
    gate.clear()
    running = jobs.submit("acme", tmp_path / "r", {"r": "r.txt"})
    queued = jobs.submit("acme", tmp_path / "q", {"q": "q.txt"})
    while running.state == "queued":
        time.sleep(0.01)
    closer = threading.Thread(target=jobs.close)
    closer.start()
    gate.set()
    closer.join(10)
    assert running.state == "done" and queued.state == "failed" and "upload the files again" in str(queued.error)


def test_serve_command_refuses_an_open_public_bind_and_a_bad_keys_file(clean_env: Path) -> None:
    from typer.testing import CliRunner

    from citewise.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8999"])
    assert result.exit_code == 2 and "refusing to serve without authentication" in result.output
    keys = _keys(clean_env, {"short": {"tenant": "a", "role": "reader"}})
    result = runner.invoke(app, ["serve", "--port", "8999"], env={"CITEWISE_API_KEYS_FILE": str(keys)})
    assert result.exit_code == 2 and "at least 16 characters" in result.output


def test_job_progress_has_the_clis_rates_and_an_eta(tmp_path: Path) -> None:
    from api.jobs import Job
    from api.schemas import JobProgress

    job = Job("j1", "acme", tmp_path, {"a": "a.txt"}, state="running", started_at=time.time() - 10.0)
    job.progress = {"files_total": 100, "files_done": 25, "files_failed": 0, "chunks_written": 60, "phase": "ingest"}
    progress = job.public()["progress"]
    assert progress["files_per_s"] == pytest.approx(2.5, rel=0.05) and progress["chunks_per_s"] == pytest.approx(
        6.0, rel=0.05
    )
    assert progress["eta_s"] == pytest.approx(30.0, rel=0.05)
    JobProgress.model_validate(progress)  # the API schema carries them
