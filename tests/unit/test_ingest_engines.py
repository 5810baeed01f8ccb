"""Choosing an ingest engine, and the errors when the Ray engine cannot run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.errors import ClusterUnavailable, InvalidRequest
from citewise.settings import RaySettings, load_settings
from ingest.engines import make_pipeline
from ingest.engines.ray_engine import connect

runner = CliRunner()


def test_unknown_engine_is_a_usage_error(clean_env: Path) -> None:
    (clean_env / "a.md").write_text("# A\n\ntext\n")
    result = runner.invoke(app, ["ingest", str(clean_env / "a.md"), "--engine", "spark"])
    assert result.exit_code == 2
    assert "--engine 'spark' must be local or ray" in result.output
    with pytest.raises(InvalidRequest, match="unknown ingest engine 'spark'"):
        make_pipeline("spark", load_settings(), None, None, None, None)  # type: ignore[arg-type]


def test_missing_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ClusterUnavailable, match=r"pip install 'citewise\[ray\]'"):
        connect(RaySettings())


@pytest.mark.may_skip_in_ci  # another test module's Ray cluster in this process: the check needs none
def test_unreachable_cluster_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    if ray.is_initialized():  # another module's cluster; this test needs none
        pytest.skip("Ray is already initialised in this process")
    import ray.util.client.worker as client_worker

    monkeypatch.setattr(client_worker, "INITIAL_TIMEOUT_SEC", 1)  # three 1 s tries instead of 5 + 10 + 15 s
    monkeypatch.setattr(client_worker, "MAX_TIMEOUT_SEC", 1)
    started = time.perf_counter()
    with pytest.raises(ClusterUnavailable, match=r"Cannot reach the Ray cluster at .ray://127\.0\.0\.1:9") as err:
        connect(RaySettings(address="ray://127.0.0.1:9"))
    assert "--engine local" in err.value.message and "ray start --head" in err.value.message
    assert not ray.is_initialized()
    assert time.perf_counter() - started < 20
