"""One owner per data dir: an exclusive lock taken before anything in it is opened, and the server's card.

Every process that opens the embedded index or writes the document store first takes an exclusive ``flock``
on ``<data_dir>/citewise.lock`` and keeps it until it exits (the kernel drops it when the process dies, so a
crash never leaves a stale lock). A second process finds the lock taken and stops before it has opened,
created or removed a single file of the owner's (Qdrant Edge would otherwise "recover" the owner's live
files). Within one process the lock is shared: each opener counts, the last release unlocks.

The owner writes its pid and command line into the lock file. ``citewise serve`` also writes ``server.json``
(its URL and pid) and a 0600 ``server.token`` beside the lock, so the CLI can hand its work to the server that
owns the data dir (``citewise.commands.handoff``); they are removed on a clean shutdown, and a card whose pid
is not the lock's owner is stale and ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import ConfigError, IndexUnavailable

LOCK_FILE = "citewise.lock"
SERVER_FILE = "server.json"
TOKEN_FILE = "server.token"
TOKEN_HEADER = "X-Citewise-Local-Token"  # the local token travels in this header (api.local)
POLL_S = 0.2


@dataclass(frozen=True)
class Holder:
    """Who owns a data dir: the pid and command line recorded in the lock file (pid None: not yet written)."""

    pid: int | None
    command: str

    def describe(self) -> str:
        return f"pid {self.pid}, {self.command}" if self.pid else "a process that is starting"


@dataclass(frozen=True)
class ServerCard:
    """What a running ``citewise serve`` publishes beside the lock: where it listens, and its pid."""

    url: str
    pid: int
    collection: str


class DataDirBusy(IndexUnavailable):
    """Another process owns the data dir; nothing in it was opened or changed."""

    code = "data_dir_busy"

    def __init__(self, data_dir: Path, holder: Holder) -> None:
        super().__init__(
            f"the data dir {data_dir} is in use by another citewise process ({holder.describe()}); the embedded "
            "index is used by one process at a time: stop that process, wait for it (the CLI's --wait), or use "
            "the server backend (CITEWISE_QDRANT__BACKEND=server)"
        )
        self.data_dir = data_dir
        self.holder = holder


class _Held:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.count = 0


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


def _key(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve()


def _command() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:3]]
    return " ".join(a for a in argv if a)[:200]


def read_holder(data_dir: Path) -> Holder:
    """The pid and command recorded in the lock file (reading it changes nothing)."""
    try:
        data = json.loads((_key(data_dir) / LOCK_FILE).read_text() or "{}")
        return Holder(int(data["pid"]), str(data.get("command", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return Holder(None, "")


class DataDirLock:
    """This process's share of the lock on one data dir; ``release()`` once (``close`` of the opener)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = _key(data_dir)
        self._released = False

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            held = _held.get(self.data_dir)
            if held is None:
                return
            held.count -= 1
            if held.count <= 0:
                del _held[self.data_dir]
                os.close(held.fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(key: Path) -> bool:
    """Take the flock (or one more share of it in this process); False if another process holds it."""
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.count += 1
            return True
        key.mkdir(parents=True, exist_ok=True)
        # O_CREAT without O_TRUNC: opening an existing lock file changes nothing in it (content or mtime)
        fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": _command(), "since": time.time()}).encode())
        held = _held[key] = _Held(fd)
        held.count = 1
    _remove_stale_card(key)
    return True


def hold(data_dir: Path, wait_s: float | None = 0.0, on_wait: Any = None) -> DataDirLock:
    """Own ``data_dir`` (see the module docstring). ``wait_s``: 0 fail at once with ``DataDirBusy``; None wait
    for as long as it takes; else wait at most that many seconds. ``on_wait(holder)`` is called once when
    waiting starts."""
    key = _key(data_dir)
    deadline = None if wait_s is None else time.monotonic() + wait_s
    announced = False
    while True:
        if _try_lock(key):
            return DataDirLock(key)
        holder = read_holder(key)
        if deadline is not None and time.monotonic() >= deadline:
            raise DataDirBusy(key, holder)
        if not announced and on_wait is not None:
            on_wait(holder)
        announced = True
        time.sleep(POLL_S)


def held_here(data_dir: Path) -> bool:
    """Whether this process owns ``data_dir``."""
    with _guard:
        return _key(data_dir) in _held


def is_busy(data_dir: Path) -> bool:
    """Whether another process owns ``data_dir`` right now."""
    key = _key(data_dir)
    if held_here(key) or not (key / LOCK_FILE).exists():
        return False
    fd = os.open(key / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # a shared lock we took is dropped with the descriptor
    return False


# -- the server's card -------------------------------------------------------------------------------------
def write_server_card(data_dir: Path, card: ServerCard, token: str) -> None:
    """Publish where the server listens (``server.json``) and the local hand-off token (``server.token``, 0600).
    Call only while holding the lock."""
    key = _key(data_dir)
    token_path = key / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        token_path.unlink()
    fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    tmp = key / (SERVER_FILE + ".tmp")
    tmp.write_text(json.dumps({"url": card.url, "pid": card.pid, "collection": card.collection}))
    tmp.replace(key / SERVER_FILE)


def remove_server_card(data_dir: Path) -> None:
    key = _key(data_dir)
    for name in (SERVER_FILE, TOKEN_FILE):
        with contextlib.suppress(FileNotFoundError):
            (key / name).unlink()


def _remove_stale_card(key: Path) -> None:
    """We just took the lock, so no server owns the dir: a card left by a killed server is stale."""
    remove_server_card(key)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ServerCardError(ConfigError):
    """``server.json`` or ``server.token`` cannot be used (unreadable, malformed, not this machine's)."""


def parse_server_card(text: str, where: Path) -> ServerCard:
    """A ``server.json`` body as a card; ``ServerCardError`` naming the field that is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ServerCardError(f"{where} is not valid JSON ({exc}); {_CARD_FIX}") from None
    if not isinstance(data, dict):
        raise ServerCardError(f"{where} must hold a JSON object with url, pid and collection; {_CARD_FIX}")
    url, pid = data.get("url"), data.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise ServerCardError(f"{where}: pid must be a positive integer, not {pid!r}; {_CARD_FIX}")
    if not isinstance(url, str) or not _loopback_url(url):
        raise ServerCardError(
            f"{where}: url must be an http:// URL on this machine (127.0.0.1, ::1 or localhost), not {url!r}: the "
            f"local token is only ever sent to a loopback address, so hand-off needs a server bound to 127.0.0.1 or "
            f"0.0.0.0 (--host); {_CARD_FIX}"
        )
    collection = data.get("collection", "")
    if not isinstance(collection, str):
        raise ServerCardError(f"{where}: collection must be a string, not {collection!r}; {_CARD_FIX}")
    return ServerCard(url.rstrip("/"), pid, collection)


_CARD_FIX = "`citewise serve` rewrites it at start: restart the server (or run with --wait to wait for the lock)"


def _loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    loopback = host == "localhost" or host == "::1" or host.startswith("127.")
    return parts.scheme == "http" and loopback and port is not None


def read_server_card(data_dir: Path) -> ServerCard | None:
    """The card beside the lock (None: there is none); ``ServerCardError`` when it is there but unusable."""
    path = _key(data_dir) / SERVER_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ServerCardError(f"cannot read {path}: {exc.strerror or exc}; {_CARD_FIX}") from None
    return parse_server_card(text, path)


def stale_reason(data_dir: Path, card: ServerCard, settle_s: float = 1.0) -> str | None:
    """Why ``card`` does not describe the data dir's owner (None: it does). Reads only."""
    key = _key(data_dir)
    deadline = time.monotonic() + settle_s
    while True:
        if not _alive(card.pid):
            return f"its server (pid {card.pid}) is not running"
        if not is_busy(key):
            return f"pid {card.pid} does not hold the data dir's lock"
        owner = read_holder(key).pid
        if owner == card.pid:
            return None
        if time.monotonic() >= deadline:
            return f"the data dir's lock is held by pid {owner}, not by the server's pid {card.pid}"
        time.sleep(POLL_S)  # the owner may be writing its pid into the lock file right now


def live_server(data_dir: Path, settle_s: float = 1.0) -> ServerCard | None:
    """The card of the server that owns ``data_dir`` now, or None (no card, an unusable one, or a stale one:
    its pid is gone or is not the lock's owner). Reads only."""
    try:
        card = read_server_card(data_dir)
    except ServerCardError:
        return None
    if card is None or stale_reason(data_dir, card, settle_s) is not None:
        return None
    return card


def read_token(data_dir: Path) -> str:
    """The server's local token; ``ServerCardError`` saying why it cannot be used."""
    path = _key(data_dir) / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        raise ServerCardError(
            f"{path} is missing although server.json names a running server; restart the server (it writes "
            "both), or run with --wait to wait for the lock"
        ) from None
    except PermissionError:
        raise ServerCardError(
            f"cannot read {path} (permission denied): the server's token is readable only by the user who runs "
            "`citewise serve`; run this command as that user, or with --wait to wait for the lock"
        ) from None
    except OSError as exc:
        raise ServerCardError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not token:
        raise ServerCardError(f"{path} is empty; restart the server (it writes a new token at start)")
    return token
