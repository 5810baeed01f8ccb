"""``citewise mcp`` refuses to start, with what to do, before it opens anything or writes to stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.datadir import DataDirBusy, Holder, ServerCard


def test_a_missing_key_is_named(clean_env: Path) -> None:
    keys = clean_env / "keys.json"
    keys.write_text(json.dumps({"acme-reader-key-0000000001": {"tenant": "acme", "role": "reader"}}))
    result = CliRunner().invoke(app, ["mcp"], env={"CITEWISE_API_KEYS_FILE": str(keys)})
    assert result.exit_code == 2 and "CITEWISE_MCP__API_KEY is not set" in result.output


def test_a_running_server_is_pointed_at(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from citewise.commands import mcp

    def busy(data_dir: Path) -> None:
        raise DataDirBusy(data_dir, Holder(4242, "citewise serve"))

    monkeypatch.setattr(mcp, "hold", busy)
    monkeypatch.setattr(mcp, "live_server", lambda _d: ServerCard("http://127.0.0.1:8000", 4242, "citewise"))
    result = CliRunner().invoke(app, ["mcp"])
    assert result.exit_code == 2
    assert "point the MCP client at http://127.0.0.1:8000/mcp" in " ".join(result.output.split())
