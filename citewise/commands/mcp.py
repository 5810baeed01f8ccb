"""``citewise mcp``: the MCP server over stdio (tools search, ask, get_document), for MCP clients that start it."""

from __future__ import annotations

import typer

from citewise.commands.common import handle_errors, settings
from citewise.datadir import DataDirBusy, hold, live_server
from citewise.errors import AuthError, ConfigError

HELP = """Serve the MCP tools search, ask and get_document over stdio (an MCP client starts this command).

The tools act as the API key in CITEWISE_MCP__API_KEY: its tenant, role and ACL groups, as over HTTP. Without
CITEWISE_API_KEYS_FILE they are open (tenant 'default'), like the API. While `citewise serve` owns the data
dir, point the MCP client at its /mcp URL (streamable HTTP) instead. See docs/mcp.md.
"""


@handle_errors
def mcp() -> None:
    from api.auth import KeyRing
    from api.mcp_stdio import serve_stdio
    from citewise.telemetry import configure_logging

    cfg = settings()
    keyring = KeyRing.load(cfg.api_keys_file)
    key = cfg.mcp.api_key.get_secret_value() if cfg.mcp.api_key is not None else ""
    try:
        principal = keyring.authenticate(f"Bearer {key}" if key else None).require("reader")
    except AuthError as exc:
        what = "is not set" if not key else "is not a key of CITEWISE_API_KEYS_FILE"
        raise ConfigError(
            f"CITEWISE_MCP__API_KEY {what} ({exc.message}); set it to the API key the MCP tools should act as"
        ) from None
    configure_logging(cfg.log_level)  # stderr: stdout is the protocol's
    try:
        lock = hold(cfg.data_dir)
    except DataDirBusy as busy:
        other = live_server(cfg.data_dir)
        if other is not None:
            raise ConfigError(
                f"a citewise server at {other.url} owns the data dir {busy.data_dir}: point the MCP client at "
                f"{other.url}/mcp (streamable HTTP, the same tools) instead of `citewise mcp`"
            ) from None
        raise ConfigError(
            f"another citewise process owns the data dir {busy.data_dir}: {busy.holder.describe()}; stop it, "
            "or wait until it is done"
        ) from None
    try:
        serve_stdio(cfg, principal)
    finally:
        lock.release()


def register(root: typer.Typer) -> None:
    root.command("mcp", help=HELP)(mcp)
