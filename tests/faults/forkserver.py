"""A warm launcher for ``citewise`` CLI runs: imports the heavy libraries once, then forks one child per run.

Starting ``citewise ingest`` costs ~5-25 s of imports (torch, sentence-transformers) on a busy 2-core CI
machine, longer than the run itself; the fault suite needs dozens of runs. This process imports them once
(and runs no model, so no thread pool exists yet when it forks) and forks a child per request; the child
sets the request's environment and working directory and runs the real ``citewise`` Typer app with the
request's arguments, exactly as the console script does. Children get killed (SIGKILL) at fault points.

Protocol (JSON lines on stdin, one answer line each on stdout):
``{"op": "start", "args": [...], "env": {...}, "cwd": "...", "log": "..."}`` -> ``{"pid": N}``
``{"op": "wait", "pid": N, "timeout": s}`` -> ``{"rc": exit code, -signal, or 124 after the timeout}``
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

TIMED_OUT = 124  # what ``wait`` answers for a child it had to kill after its timeout


def _warm() -> None:
    import importlib

    for name in ("sentence_transformers", "api.app", "citewise.cli", "citewise.encoders", "ingest.pipeline"):
        importlib.import_module(name)  # sentence_transformers: the slow one (torch, transformers)


def _child(req: dict[str, Any]) -> None:
    try:
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        from citewise import faults
        from citewise.cli import app

        faults.reset()
        app(args=list(req["args"]), prog_name="citewise")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    """The child's exit code; after ``timeout`` seconds it is SIGKILLed and ``TIMED_OUT`` returned."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return TIMED_OUT
        time.sleep(0.05)


def main() -> None:
    _warm()
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "start":
            pid = os.fork()
            if pid == 0:
                _child(req)
            answer: dict[str, Any] = {"pid": pid}
        else:
            answer = {"rc": _wait(int(req["pid"]), float(req.get("timeout") or 600))}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
