"""The model cache's rules: where it is, what a bad CITEWISE_CACHE_DIR says, one build under concurrent use.

The real export shared by data dirs and built by two processes at once: tests/integration/test_model_cache.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.errors import ConfigError
from citewise.model_cache import CACHE_ENV, META_FILE, build_once, cache_dir, list_artifacts


def test_cache_dir_is_the_variable_or_the_platform_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir(create=False).name == "citewise"


def test_a_file_as_cache_dir_names_the_variable(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "a-file").write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(clean_env / "a-file"))
    with pytest.raises(ConfigError, match=f"{CACHE_ENV}=.*a-file is a file, not a folder. Set {CACHE_ENV} to"):
        cache_dir()
    result = CliRunner().invoke(
        app, ["models", "build", "--backend", "onnx"]
    )  # the CLI: exit 2 (settings), one clear line
    assert result.exit_code == 2 and CACHE_ENV in result.output and "Traceback" not in result.output


def test_a_cache_dir_that_cannot_be_created_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "a-file" / "cache"))
    with pytest.raises(ConfigError, match=f"{CACHE_ENV}=.* cannot be created .* Set {CACHE_ENV} to a writable"):
        cache_dir()


@pytest.mark.may_skip_in_ci
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_names_the_variable_when_a_build_is_needed(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match=f"Cannot write the model cache .* Set {CACHE_ENV}"):
            build_once(folder / "m" / "onnx-x", "model.onnx", {}, lambda tmp: None)
    finally:
        folder.chmod(0o755)


def test_a_cache_whose_export_folder_is_a_file_names_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Works as root too (a read-only folder does not stop root): the folder exports go into is a file."""
    cache = clean_env / "cache"
    cache.mkdir()
    (cache / "onnx").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(cache))
    result = CliRunner().invoke(app, ["models", "build", "--backend", "onnx"])
    assert result.exit_code == 2, result.output
    assert "Cannot write the model cache" in result.output and CACHE_ENV in result.output
    assert "Traceback" not in result.output


def test_a_built_artifact_is_reused_from_a_read_only_cache(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "onnx-x"
    build_once(folder, "model.onnx", {"k": 1}, lambda tmp: (tmp / "model.onnx").write_bytes(b"x") and None)
    (tmp_path / "m").chmod(0o555)  # no lock is taken for a current artifact
    try:
        assert build_once(folder, "model.onnx", {"k": 1}, lambda tmp: pytest.fail("rebuilt")) == folder / "model.onnx"
    finally:
        (tmp_path / "m").chmod(0o755)


def _slow_build(tmp: Path) -> dict[str, object]:
    """A build that takes a while and counts itself in a file beside the cache (processes share no memory)."""
    (tmp.parent.parent / "started").touch()
    print("Fused LayerNormalization: 13")  # the optimizer's chatter: into build.log, not the terminal
    time.sleep(1.0)
    with (tmp.parent.parent / "builds").open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    (tmp / "model.onnx").write_bytes(b"onnx")
    return {"builder": os.getpid()}


def _build_in_child(folder: Path) -> None:
    build_once(folder, "model.onnx", {"k": 1}, _slow_build)


def test_concurrent_builders_build_once_and_the_waiter_says_so(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "m" / "onnx-x"
    child = multiprocessing.get_context("fork").Process(target=_build_in_child, args=(folder,))
    child.start()
    deadline = time.monotonic() + 20
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert build_once(folder, "model.onnx", {"k": 1}, _slow_build) == folder / "model.onnx"  # waits, then reuses
    child.join(20)
    assert child.exitcode == 0
    assert (tmp_path / "builds").read_text().split() == [str(child.pid)]  # built once, by the child
    assert json.loads((folder / META_FILE).read_text()) == {"k": 1, "builder": child.pid}
    assert "Fused" in (folder / "build.log").read_text()
    out, err = capfd.readouterr()
    assert "Fused" not in out + err and "waiting for another process that is building" in err


def test_a_build_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "onnx-x"

    def broken(_: Path) -> None:
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError, match="export failed"):
        build_once(folder, "model.onnx", {}, broken)
    assert not folder.exists() and [p.name for p in folder.parent.iterdir()] == [".onnx-x.lock"]
    assert list_artifacts(tmp_path) == []


def test_models_list_and_clear(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = clean_env / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    folder = cache / "onnx" / "org--m-1234" / "onnx-int8-abc"
    build_once(
        folder,
        "model.onnx",
        {"model": "org/m", "backend": "onnx-int8", "versions": {"onnxruntime": "1"}},
        lambda tmp: (tmp / "model.onnx").write_bytes(b"x" * 10) and None,
    )
    (cache / "wheels").mkdir()  # the Makefile's other tenant of the cache dir: never touched
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert [(a["model"], a["backend"]) for a in listed["artifacts"]] == [("org/m", "onnx-int8")]
    assert runner.invoke(app, ["models", "clear"], input="n\n").exit_code == 1 and folder.is_dir()
    assert runner.invoke(app, ["models", "clear", "--yes"]).exit_code == 0
    assert not (cache / "onnx").exists() and (cache / "wheels").is_dir()


def test_exports_of_a_data_dir_model_stay_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from citewise.encoders.onnx_export import export_root

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    data = tmp_path / "data"
    adapted = data / "models" / "docs" / "adapted-1"  # what `citewise tune encoder` writes
    assert export_root(adapted, data) == data / "models" / ".onnx"  # deleted with the data dir
    assert export_root(tmp_path / "site-packages" / "minilm", data) == tmp_path / "cache" / "onnx"


def test_models_build_refuses_an_unknown_backend(clean_env: Path) -> None:
    result = CliRunner().invoke(app, ["models", "build", "--backend", "tensorflow"])
    assert (
        result.exit_code == 2
        and "--backend 'tensorflow' is not one of configured, onnx, onnx-int8, all" in result.output
    )
