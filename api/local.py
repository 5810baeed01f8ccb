"""The CLI's hand-off to the server that owns the data dir (see ``api.routes.local``, ``citewise.commands.handoff``).

``citewise serve`` writes a random token to ``<data_dir>/server.token`` (mode 0600): whoever can read it may act
on the data dir as its owner, exactly as they could run the CLI on it. ``local_caller`` admits a request only
with that token and only from a loopback address. ``LocalIngests`` carries a ``citewise ingest`` run (paths
and options) through the server's job queue, and keeps the run's full summary for the CLI to print.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from citewise.datadir import TOKEN_HEADER
from citewise.errors import AuthError, Forbidden, NotFound
from citewise.types import DEFAULT_TENANT

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def is_loopback_client(host: str | None) -> bool:
    if host is None:
        return False
    return host in LOOPBACK or host.startswith("127.") or host.startswith("::ffff:127.")


def local_caller(request: Request) -> None:
    """Only the data dir's owner: the server's local token, from this machine. Hidden (404) when the server was
    started without one (``create_app`` outside ``citewise serve``)."""
    expected: str | None = getattr(request.app.state, "local_token", None)
    if not expected:
        raise NotFound("no such route")
    client = request.client.host if request.client is not None else None
    if not is_loopback_client(client):
        raise Forbidden("the local hand-off routes answer only this machine (a loopback address)")
    given = request.headers.get(TOKEN_HEADER, "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthError(f"missing or wrong {TOKEN_HEADER}: it is in server.token beside the data dir's lock")


@dataclass
class LocalIngest:
    """A ``citewise ingest`` run handed to the server; ``summary`` is set when it finished."""

    paths: list[str]
    tenant: str = DEFAULT_TENANT
    acl: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # tags, prune, workers, include, exclude
    summary: Any = None

    def run(self, pipeline: Any, job: Any, progress: Any) -> Any:
        self.summary = pipeline.run(self.paths, tenant=self.tenant, acl=self.acl, progress=progress, **self.options)
        return self.summary


class LocalIngests:
    """Runs waiting for the job worker (by the job's folder) and the most recent ones (by job id)."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._waiting: dict[str, LocalIngest] = {}
        self._by_job: OrderedDict[str, LocalIngest] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, folder: Path, run: LocalIngest) -> None:
        with self._lock:
            self._waiting[str(folder)] = run

    def bind(self, job_id: str, run: LocalIngest) -> None:
        with self._lock:
            self._by_job[job_id] = run
            while len(self._by_job) > self.keep:
                self._by_job.popitem(last=False)

    def take(self, folder: Path) -> LocalIngest | None:
        """The run the job of ``folder`` carries (None: an ordinary upload job)."""
        with self._lock:
            return self._waiting.pop(str(folder), None)

    def get(self, job_id: str) -> LocalIngest | None:
        with self._lock:
            return self._by_job.get(job_id)
