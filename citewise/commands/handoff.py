"""The CLI's hand-off to the ``citewise serve`` that owns the embedded data dir (``api.routes.local``).

When a live server holds the data dir's lock (``citewise.datadir``: its ``server.json`` names a running pid
that owns the lock, and its 0600 ``server.token`` is readable), ``citewise ingest`` sends its run to the
server's job queue and follows it, and ``search``, ``ask``, ``index stats`` and ``documents delete`` ask the
server; the output and exit codes are those of a local run. The token is only ever sent to a loopback URL.
A card left by a dead server is stale: the command runs here as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from citewise.commands.common import err_console
from citewise.datadir import (
    TOKEN_FILE,
    TOKEN_HEADER,
    ServerCard,
    ServerCardError,
    is_busy,
    read_server_card,
    read_token,
    stale_reason,
)
from citewise.errors import AuthError, CitewiseError, IndexUnavailable, InvalidRequest, NotFound

POLL_S = 0.5  # how often a handed-off ingest run's progress is read
FINISHED = ("done", "failed", "cancelled")


class HandoffError(CitewiseError):
    """The server that owns the data dir answered with an error this CLI has no closer class for."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Interrupted(Exception):
    """Ctrl-C while following a handed-off run; ``message`` says what became of the server's job."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class LocalServer:
    """The server that owns ``data_dir``, and its local token."""

    card: ServerCard
    token: str
    data_dir: Path
    timeout_s: float = 600.0  # a search or an answer on a busy server; ingest runs are polled, not awaited
    start_wait_s: float = 180.0  # how long a server that is still starting (not listening yet) is waited for

    def describe(self) -> str:
        return f"the citewise server at {self.card.url} (pid {self.card.pid})"

    def call(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        """One request to a ``/v1/local`` route; the answer's JSON, or the error it carries as a citewise error."""
        import httpx

        with httpx.Client(headers={TOKEN_HEADER: self.token}, timeout=self.timeout_s) as client:
            request = client.build_request(method, self.card.url + path, json=json, params=params)
            reply = self._send(client, request, stream=False)
        if reply.status_code < 400:
            return reply.json()
        raise self._error(reply)

    def events(self, path: str, *, json: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """POST to a ``/v1/local`` route that answers with Server-Sent Events; yields ``(event, data)`` as they
        come. An error answer before the stream starts raises as in ``call``."""
        import json as jsonlib

        import httpx

        with httpx.Client(headers={TOKEN_HEADER: self.token}, timeout=self.timeout_s) as client:
            reply = self._send(client, client.build_request("POST", self.card.url + path, json=json), stream=True)
            try:
                if reply.status_code >= 400:
                    reply.read()
                    raise self._error(reply)
                event, data = "message", []
                for line in reply.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:  # a blank line ends an event (":" lines are pings)
                        yield event, jsonlib.loads("\n".join(data))
                        event, data = "message", []
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None
            finally:
                reply.close()

    def _send(self, client: Any, request: Any, stream: bool) -> Any:
        """Send ``request``, waiting (up to ``start_wait_s``) for a server that is starting to listen."""
        import httpx

        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the output
        deadline = time.monotonic() + self.start_wait_s
        said = False
        while True:
            try:
                return client.send(request, stream=stream)
            except httpx.ConnectError as exc:  # a server that is starting publishes its card before it listens
                if time.monotonic() < deadline and stale_reason(self.data_dir, self.card, settle_s=0) is None:
                    if not said:
                        err_console.print(
                            f"waiting for {self.describe()} to start listening ...", highlight=False, soft_wrap=True
                        )
                        said = True
                    time.sleep(POLL_S)
                    continue
                raise self._unreachable(exc) from None
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> IndexUnavailable:
        return IndexUnavailable(
            f"{self.describe()} owns the data dir but did not answer ({type(exc).__name__}: {exc}); check that it "
            "is healthy (GET /readyz) or stop it, or run with --wait to wait for the data dir's lock"
        )

    def _error(self, reply: Any) -> CitewiseError:
        try:
            body = reply.json()["error"]
            code, message = str(body["code"]), str(body["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "server_error", f"HTTP {reply.status_code}: {reply.text[:300]}"
        status = reply.status_code
        if status == 401:
            return AuthError(
                f"{self.describe()} refused the local token in {self.data_dir / TOKEN_FILE} ({message}); the file "
                "may be left from an earlier server run: restart the server, or run with --wait to wait for the lock"
            )
        if status in (400, 422):
            return InvalidRequest(message)
        if status == 404:
            return NotFound(message)
        if status == 503:
            return IndexUnavailable(f"{self.describe()}: {message}")
        return HandoffError(code, f"{self.describe()}: {message}")


def find_server(cfg: Any) -> LocalServer | None:
    """The live server that owns the embedded data dir, or None (another backend, no server, a stale card).

    A stale card (its pid is gone or is not the lock's owner) is noted on stderr and ignored; a card that is
    unusable while the data dir is owned by someone, or an unreadable token, is a ``ServerCardError``."""
    if cfg.qdrant.backend != "embedded":
        return None
    data_dir = Path(cfg.data_dir)
    try:
        card = read_server_card(data_dir)
    except ServerCardError:
        if not is_busy(data_dir):  # nobody owns the dir: the card is left over, the local run replaces it
            return None
        raise
    if card is None:
        return None
    reason = stale_reason(data_dir, card)
    if reason is not None:
        err_console.print(f"ignoring a stale server.json ({reason}); running here", highlight=False, soft_wrap=True)
        return None
    return LocalServer(card, read_token(data_dir), data_dir)


# -- ingest ---------------------------------------------------------------------------------------------
def ingest(
    server: LocalServer,
    body: dict[str, Any],
    reporter: Any,
    route: str = "/v1/local/ingest",
    details: dict[str, Any] | None = None,
) -> Any:
    """Submit ``body`` (``LocalIngestRequest``, or a sources sync to ``/v1/local/sources/sync``) and follow the
    job; the run's ``IngestSummary`` (``details`` receives the job's last state, e.g. per-source results).

    Ctrl-C cancels the job on the server (files finished so far stay ingested; re-running resumes), as
    Ctrl-C stops a local run, and raises ``Interrupted`` saying so."""
    job_id = server.call("POST", route, json=body)["job_id"]
    started = time.monotonic()
    queued_said = False
    try:
        err_console.print(
            f"the data dir is owned by {server.describe()}: the server runs this ingest (job {job_id})",
            highlight=False,
            soft_wrap=True,
        )
        while True:
            state = _follow(server, job_id)
            job = state["job"]
            if job["state"] == "queued" and not queued_said:
                err_console.print("queued behind the server's other ingest jobs ...", highlight=False, soft_wrap=True)
                queued_said = True
            if job["state"] == "running":  # a run's "done" while the job still runs is not its end (said below)
                progress = job["progress"]
                running = {**progress, "phase": "ingest"} if progress.get("phase") == "done" else progress
                reporter(_event(running, time.monotonic() - started))
            if job["state"] in FINISHED:
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        raise Interrupted(_cancel(server, job_id)) from None
    if details is not None:
        details.update(state)
    if job["state"] == "done" and state.get("summary") is not None:
        reporter(_event({**job["progress"], "phase": "done"}, time.monotonic() - started))
        return summary_from_json(state["summary"])
    if job["state"] == "cancelled":
        raise HandoffError(
            "job_cancelled",
            f"job {job_id} was cancelled on {server.describe()} (DELETE /v1/jobs/{job_id}); files finished before "
            "stay ingested: re-run the same command to finish",
        )
    raise HandoffError(
        "ingest_failed",
        f"the ingest run (job {job_id}) failed on {server.describe()}: {job.get('error') or 'no reason given'}; "
        "re-run the same command to resume (finished files are not redone)",
    )


def _follow(server: LocalServer, job_id: str) -> dict[str, Any]:
    try:
        reply: dict[str, Any] = server.call("GET", f"/v1/local/jobs/{job_id}")
    except (IndexUnavailable, InvalidRequest) as exc:
        raise IndexUnavailable(
            f"lost track of job {job_id}: {exc.message}. If the server stopped, the run stopped with it: re-run "
            "the same command to resume (finished files are not redone)"
        ) from None
    return reply


def _cancel(server: LocalServer, job_id: str) -> str:
    try:
        state = server.call("DELETE", f"/v1/local/jobs/{job_id}")["job"]["state"]
    except CitewiseError as exc:
        return (
            f"interrupted; could not cancel job {job_id} on {server.describe()} ({exc.message}); re-run the same "
            "command to resume or to see what is left (finished files are not redone)"
        )
    done = "was cancelled" if state == "cancelled" else "is being cancelled (after the file in hand)"
    return (
        f"interrupted; job {job_id} {done} on {server.describe()}; files finished so far stay ingested: re-run "
        "the same command to resume"
    )


def _event(progress: dict[str, Any], elapsed_s: float) -> Any:
    """A ``ProgressEvent`` look-alike for the CLI's progress reporter."""
    return SimpleNamespace(
        files_total=int(progress.get("files_total", 0)),
        files_done=int(progress.get("files_done", 0)),
        files_failed=int(progress.get("files_failed", 0)),
        chunks_written=int(progress.get("chunks_written", 0)),
        phase=str(progress.get("phase", "running")),
        elapsed_s=elapsed_s,
    )


def summary_from_json(data: dict[str, Any]) -> Any:
    """The ``IngestSummary`` the server's ``summary_json`` describes."""
    from ingest.pipeline import ChunkCounts, FileCounts, IngestSummary
    from ingest.steps import Failure

    return IngestSummary(
        files=FileCounts(**data["files"]),
        chunks=ChunkCounts(**data["chunks"]),
        failures=tuple(Failure(path=f["path"], reason=f["reason"]) for f in data["failures"]),
        elapsed_s=float(data["elapsed_s"]),
    )
