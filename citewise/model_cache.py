"""The machine's model cache: artifacts built once per machine and shared by every data dir.

Today these are the ONNX exports and int8 quantizations of the dense encoder (``citewise.encoders.onnx_export``).
The folder is ``CITEWISE_CACHE_DIR``, by default the platform's user cache dir (``~/.cache/citewise`` on Linux,
``~/Library/Caches/citewise`` on macOS). ``make install`` and the Docker image fill it with ``citewise models
build``; ``citewise models list`` shows and ``citewise models clear`` empties it.

A build runs under an exclusive ``flock`` on a lock file beside its folder and swaps the finished folder in by a
rename, so processes starting at once build an artifact one time and never see half of one. What the build
libraries print (the graph optimizer's "Fused ..." lines, tracer and quantizer notes) goes to ``build.log`` in
the artifact's folder, never to the terminal (file descriptors 1 and 2 are redirected for the build's duration,
so in a server whatever other threads print meanwhile lands there too; `make install` builds ahead of time).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from citewise.errors import ConfigError

CACHE_ENV = "CITEWISE_CACHE_DIR"
META_FILE = "export.json"
LOG_FILE = "build.log"
WRITABLE_FIX = f"Set {CACHE_ENV} to a writable folder (it holds the model exports built once per machine)."
CACHE_FOLDERS = ("onnx",)  # what `citewise models list|clear` look at (the Makefile keeps wheels beside them)


def default_cache_dir() -> Path:
    """The platform's user cache dir for citewise (platformdirs), else ``~/.cache/citewise``."""
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "citewise"
    return Path(user_cache_dir("citewise", appauthor=False))


def cache_dir(create: bool = True) -> Path:
    """``CITEWISE_CACHE_DIR`` or the default, made if missing; a ``ConfigError`` naming the variable if unusable.

    Not checked for writing here: a cache that is already built may be read-only (``build_once`` says when a
    build cannot write).
    """
    raw = os.environ.get(CACHE_ENV, "").strip()
    path = Path(raw).expanduser() if raw else default_cache_dir()
    where = f"{CACHE_ENV}={raw}" if raw else f"The model cache {path} (the default; set {CACHE_ENV} to move it)"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where} is a file, not a folder. {WRITABLE_FIX}")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{where} cannot be created ({exc.strerror or exc}). {WRITABLE_FIX}") from None
    return path


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of ``names`` ("-" when missing), read from package metadata without importing them."""
    return dict(_versions(names))


@lru_cache(maxsize=16)
def _versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Remembered for the process: a metadata look-up costs ~2 ms a name."""
    found = []
    for name in names:
        try:
            found.append((name, version(name)))
        except PackageNotFoundError:
            found.append((name, "-"))
    return tuple(found)


def is_current(folder: Path, artifact: str, wanted: dict[str, Any]) -> bool:
    """``folder`` holds ``artifact`` and a metadata file that agrees with every key of ``wanted``."""
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (folder / artifact).is_file() and all(meta.get(k) == v for k, v in wanted.items())


@contextlib.contextmanager
def exclusive(lock_path: Path, waiting: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path``; say ``waiting`` on stderr once if another process holds it.

    A lock file that cannot be made (a read-only folder, a file where a folder should be) is a ``ConfigError``."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the model cache at {lock_path.parent} ({exc.strerror or exc}). {WRITABLE_FIX}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def build_once(
    folder: Path, artifact: str, wanted: dict[str, Any], build: Callable[[Path], dict[str, Any] | None]
) -> Path:
    """``folder / artifact``, built now by ``build(tmp_folder)`` unless a current one exists (see module doc).

    ``build`` writes ``artifact`` into the temporary folder it is given and returns extra metadata.
    """
    if is_current(folder, artifact, wanted):
        return folder / artifact
    lock = folder.parent / f".{folder.name}.lock"
    with exclusive(lock, f"waiting for another process that is building {folder} ..."):
        if is_current(folder, artifact, wanted):  # built by the process we waited for
            return folder / artifact
        _build_into(folder, artifact, wanted, build)
    return folder / artifact


def _build_into(
    folder: Path, artifact: str, wanted: dict[str, Any], build: Callable[[Path], dict[str, Any] | None]
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        with _output_to(tmp / LOG_FILE):
            extra = build(tmp) or {}
        if not (tmp / artifact).is_file():
            raise RuntimeError(f"building {folder} wrote no {artifact}")
        (tmp / META_FILE).write_text(json.dumps({**wanted, **extra}, indent=2, sort_keys=True, default=str))
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            folder.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send stdout/stderr (Python's and the C libraries' file descriptors 1 and 2) and INFO logs to ``log``."""
    import logging

    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("onnxruntime", "onnx", "torch", "transformers"))]
    levels = [lg.level for lg in loggers]
    with log.open("w") as fh:
        try:
            for fd in saved:
                os.dup2(fh.fileno(), fd)
            for lg in loggers:
                lg.setLevel(logging.ERROR)  # the optimizer's "Fused ..." and the quantizer's advice are INFO/WARNING
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


@dataclass(frozen=True)
class CachedArtifact:
    """One built artifact in the cache, as ``citewise models list`` shows it."""

    folder: Path
    model: str
    backend: str
    size_bytes: int
    versions: dict[str, str]


def list_artifacts(root: Path) -> list[CachedArtifact]:
    """Every finished artifact in the cache at ``root`` (folders with a metadata file), by model and backend."""
    found = []
    metas = [m for name in CACHE_FOLDERS if (root / name).is_dir() for m in (root / name).rglob(META_FILE)]
    for meta_file in metas:
        if any(part.startswith(".") for part in meta_file.relative_to(root).parts):
            continue  # a build in progress
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            continue
        folder = meta_file.parent
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        versions = {str(k): str(v) for k, v in dict(meta.get("versions") or {}).items()}
        found.append(CachedArtifact(folder, str(meta.get("model", "?")), str(meta.get("backend", "?")), size, versions))
    return sorted(found, key=lambda a: (a.model, a.backend, str(a.folder)))
