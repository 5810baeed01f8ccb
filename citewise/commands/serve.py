"""``citewise serve``: the HTTP API and web page (FastAPI on uvicorn)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
from typing import Any

import typer

from citewise.commands.common import err_console, handle_errors, settings
from citewise.datadir import (
    DataDirBusy,
    DataDirLock,
    ServerCard,
    hold,
    live_server,
    remove_server_card,
    write_server_card,
)
from citewise.errors import ConfigError

HELP = """Serve the HTTP API (/v1/search, /v1/ask, /v1/documents, /v1/ingest, ...) and the web page at /.

The server also keeps the named sources in sync: it watches `--watch` folders and runs `--schedule` crons
(`citewise sources`, docs/sources.md); `citewise ingest` and `sources sync` on its data dir are handed to it.

Auth: with CITEWISE_API_KEYS_FILE every route but /healthz, /readyz and the page needs a Bearer key. Without
it the server is open (tenant 'default', admin role) and, unless CITEWISE_API__ALLOW_OPEN=true, only binds
to a loopback address.
"""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, has_keys: bool, allow_open: bool) -> None:
    """Refuse to serve without keys on a non-loopback address unless explicitly allowed."""
    if not has_keys and not allow_open and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve without authentication on {host}: set CITEWISE_API_KEYS_FILE to a keys file "
            "(see docs/api.md), bind to 127.0.0.1, or set CITEWISE_API__ALLOW_OPEN=true if something in front "
            "of the server already restricts access"
        )


@handle_errors
def serve(
    host: str = typer.Option(None, "--host", help="Address to bind (default: CITEWISE_API__HOST, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: CITEWISE_API__PORT, 8000)."),
) -> None:
    import uvicorn

    from api import create_app
    from api.auth import KeyRing
    from citewise.telemetry import configure_logging

    cfg = settings()
    host = host or cfg.api.host
    port = port or cfg.api.port
    check_exposure(host, cfg.api_keys_file is not None, cfg.api.allow_open)
    KeyRing.load(cfg.api_keys_file)  # a bad keys file: a clear error before anything starts
    configure_logging(cfg.log_level)
    lock = _own_data_dir(cfg)  # before anything in the data dir is opened; refuses if another process owns it
    token = secrets.token_urlsafe(32)
    url_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url_host = f"[{url_host}]" if ":" in url_host else url_host
    card = ServerCard(f"http://{url_host}:{port}", os.getpid(), cfg.qdrant.collection)
    write_server_card(cfg.data_dir, card, token)
    app = create_app(cfg, local_token=token)
    if cfg.api_keys_file is None:
        err_console.print(
            f"[yellow]warning:[/yellow] no CITEWISE_API_KEYS_FILE: the API is open (no authentication) "
            f"on {host}:{port}",
            highlight=False,
        )
    err_console.print(f"citewise API on http://{host}:{port}/ (docs at /docs)", highlight=False)
    # uvicorn shuts down gracefully on SIGTERM, then raises it again: exit through the `finally` (card removed)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(app, host=host, port=port, log_level=cfg.log_level.lower(), access_log=False)
    finally:
        remove_server_card(cfg.data_dir)
        lock.release()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _own_data_dir(cfg: Any) -> DataDirLock:
    try:
        return hold(cfg.data_dir)
    except DataDirBusy as busy:
        other = live_server(cfg.data_dir)
        where = f" (a citewise server at {other.url})" if other else ""
        raise ConfigError(
            f"another citewise process owns the data dir {busy.data_dir}: {busy.holder.describe()}{where}. Two "
            "processes cannot share one data dir: stop it, or give this server its own CITEWISE_DATA_DIR"
        ) from None


def register(root: typer.Typer) -> None:
    root.command("serve", help=HELP)(serve)
