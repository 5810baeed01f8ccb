"""A source's own ``--include`` / ``--exclude`` globs, and the one rule that matches them (docs/sources.md).

A glob is matched against an object's **key**: its path relative to the source's root, ``/``-separated
(``team/2024/report.pdf``; for ``s3://bucket/prefix`` the part after ``prefix/``). The same rule serves folders
and object stores, the listing of a sync, the events of a watched folder and so the pruning (an object the globs
leave out is not listed, and is pruned like a deleted one). Case-sensitive, as object keys are.

- ``*`` matches any characters but ``/``; ``?`` one character but ``/``; ``[abc]``, ``[!abc]`` one of a set.
- A glob without ``/`` matches any one segment of the key, the file's name or a folder's:
  ``*.pdf`` (PDFs at any depth), ``drafts`` (anything inside a folder named drafts, at any depth).
- A glob with ``/`` is anchored at the root and matches the whole key; a ``**`` segment matches any number of
  segments (none included): ``docs/**`` (everything under ``docs/``), ``**/drafts/**`` (under any folder named
  drafts), ``reports/**/*.pdf``. A trailing ``/`` means ``/**`` (``docs/`` = ``docs/**``); ``./`` is dropped.
- An object is taken when it matches an include glob (or there are none) and no exclude glob: exclude wins.
  ``CITEWISE_INGEST__INCLUDE`` / ``__EXCLUDE`` (hidden files, editor backups ...) apply as well.

Refused, with what to write instead: an empty glob, an absolute one (``/srv/docs/**``, ``C:/...``), one with a
``..`` segment, and ``\\`` separators.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from citewise.errors import InvalidRequest

_DRIVE = re.compile(r"^[A-Za-z]:")


def check_globs(globs: Sequence[str] | None, kind: str) -> tuple[str, ...]:
    """``globs`` normalised (``./`` dropped, a trailing ``/`` as ``/**``, duplicates removed, order kept);
    ``InvalidRequest`` naming the bad one and what to write. ``kind`` is ``include`` or ``exclude``."""
    out: list[str] = []
    for raw in globs or ():
        glob = _checked(raw if isinstance(raw, str) else "", kind)
        if glob not in out:
            out.append(glob)
    return tuple(out)


def _checked(raw: str, kind: str) -> str:
    flag = f"--{kind} {raw!r}"
    example = "'*.pdf', 'docs/**' or '**/drafts/**'"
    text = raw.strip()
    if not text:
        raise InvalidRequest(f"{flag} is empty: give a glob matched against paths inside the source, e.g. {example}")
    if "\\" in text:
        raise InvalidRequest(f"{flag} uses '\\': separate folders with '/' (e.g. 'docs/**'), on every system")
    if text.startswith("/") or _DRIVE.match(text):
        raise InvalidRequest(
            f"{flag} is absolute: globs match the path relative to the source's root (its folder or bucket "
            f"prefix); write e.g. 'drafts/**' for a folder at the root, or '**/drafts/**' at any depth"
        )
    while text.startswith("./"):
        text = text[2:]
    if text.endswith("/"):
        text += "**"
    segments = text.split("/")
    if ".." in segments:
        raise InvalidRequest(
            f"{flag} contains '..': a glob only matches inside the source's root; to reach other files, add "
            "another source (or change this one's URI)"
        )
    if "" in segments or "." in segments or not text:
        raise InvalidRequest(f"{flag} has an empty or '.' path segment: write e.g. {example}")
    return text


def glob_matches(key: str, glob: str) -> bool:
    """Does the key (``a/b/c.pdf``) match ``glob`` under the rule above?"""
    parts = key.split("/")
    if "/" not in glob:
        return any(fnmatchcase(part, glob) for part in parts)
    return _anchored(glob.split("/"), parts)


def _anchored(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        if not rest:
            return bool(parts)  # 'docs/**' is what lies under docs/, not a file named docs
        return any(_anchored(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _anchored(rest, parts[1:])


@dataclass(frozen=True)
class KeyFilter:
    """A source's include/exclude globs: ``selects(key)`` says whether the object belongs to the source."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def excludes(self, key: str) -> bool:
        return any(glob_matches(key, g) for g in self.exclude)

    def selects(self, key: str) -> bool:
        if self.excludes(key):
            return False
        return not self.include or any(glob_matches(key, g) for g in self.include)
