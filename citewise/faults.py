"""Fault injection for the crash tests: ``CITEWISE_FAULT_POINT=point:n`` SIGKILLs this process at the n-th ``hit``.

The ingest pipeline calls ``hit(name)`` just before each step whose interruption must be survivable
(``POINTS``). With the variable unset, ``hit`` is one dictionary lookup and a comparison: nothing else runs.
The variable is read once, at the first ``hit``; ``reset()`` re-reads it (tests).
``CITEWISE_FAULT_POINT=upsert:3`` kills the process (SIGKILL: no cleanup, no ``finally``, no flush) just
before its third upsert. Counters are per process: a parser worker process counts its own ``parse`` hits.
See docs/reliability.md.
"""

from __future__ import annotations

import os
import signal

from citewise.errors import ConfigError

ENV = "CITEWISE_FAULT_POINT"
# Every crash point in the ingest path, in the order a write goes through them.
POINTS = ("parse", "encode", "docstore_begin", "upsert", "delete", "flush", "docstore_commit", "prune")

_target: tuple[str, int] | None = None
_loaded = False
_hits: dict[str, int] = {}


def parse(value: str) -> tuple[str, int]:
    """``"upsert:3"`` -> ``("upsert", 3)``; a ``ConfigError`` naming the variable for anything else."""
    name, sep, count = value.partition(":")
    if name not in POINTS or not sep or not count.isdigit() or int(count) < 1:
        raise ConfigError(
            f"{ENV}={value!r} must look like POINT:N with POINT one of {', '.join(POINTS)} and N >= 1 "
            "(e.g. upsert:2); unset it for normal runs"
        )
    return name, int(count)


def reset() -> None:
    """Forget the counters and read ``CITEWISE_FAULT_POINT`` again at the next hit."""
    global _target, _loaded
    _target, _loaded = None, False
    _hits.clear()


def _load() -> None:
    global _target, _loaded
    raw = os.environ.get(ENV, "").strip()
    _target = parse(raw) if raw else None
    _loaded = True


def hit(name: str) -> None:
    """Count a pass through crash point ``name``; SIGKILL this process if it is the configured n-th one."""
    if not _loaded:
        _load()
    if _target is None or _target[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
