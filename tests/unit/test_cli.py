from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "config" in result.output and "index" in result.output


def test_index_stats_json_on_empty_data_dir(clean_env: Path) -> None:
    result = runner.invoke(app, ["index", "stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "embedded" and data["points"] == 0 and data["exists"] is False


def test_config_show_masks_secrets(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_GENERATION__API_KEY", "sk-very-secret")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert "sk-very-secret" not in result.output
    assert json.loads(result.stdout)["generation"]["api_key"] == "**********"
    table = runner.invoke(app, ["config", "show"])
    assert "CITEWISE_GENERATION__API_KEY" in table.output and "sk-very-secret" not in table.output


def test_invalid_setting_stops_with_named_variable(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_QDRANT__BACKEND", "cloud")
    result = runner.invoke(app, ["index", "stats"])
    assert result.exit_code == 2
    assert "CITEWISE_QDRANT__BACKEND" in result.output and "'cloud'" in result.output
    assert "Traceback" not in result.output


def test_unreachable_server_is_a_clear_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_QDRANT__BACKEND", "server")
    monkeypatch.setenv("CITEWISE_QDRANT__URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CITEWISE_QDRANT__PREFER_GRPC", "false")
    monkeypatch.setenv("CITEWISE_QDRANT__TIMEOUT_S", "2")
    result = runner.invoke(app, ["index", "stats", "--json"])
    assert result.exit_code == 1
    assert "http://127.0.0.1:9" in result.output and "CITEWISE_QDRANT__URL" in result.output
    assert "Traceback" not in result.output


def test_drop_requires_yes(clean_env: Path) -> None:
    result = runner.invoke(app, ["index", "drop"])
    assert result.exit_code == 2 and "--yes" in result.output
    assert runner.invoke(app, ["index", "drop", "--yes"]).exit_code == 0


def test_console_script_runs_as_installed() -> None:
    exe = Path(sys.executable).with_name("citewise")
    if not exe.exists():
        pytest.skip("console script not installed (run `make install`)")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("citewise ")


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_file_is_valid() -> None:
    import yaml

    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(REPO / "docker-compose.yml"), "config"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert {"qdrant", "api"} <= set(services)
    assert services["api"]["environment"]["CITEWISE_QDRANT__BACKEND"] == "server"
    image = services["qdrant"]["image"]
    assert ":" in image and not image.endswith(":latest"), "the Qdrant image must be pinned"
    assert "healthcheck" in services["qdrant"]
