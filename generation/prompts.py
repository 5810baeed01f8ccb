"""Versioned prompt templates (``generation/prompts/NAME@VERSION.txt``) and the fenced rendering of passages.

Retrieved text is data, never instructions: each passage is wrapped in ``<<FENCE n>> ... <</FENCE n>>``
where FENCE is derived from a hash of all passages of the request (a document cannot know it in
advance), and any ``<<``/``>>`` inside a passage is defused so it cannot close its fence early.

What reaches the provider: the question and, per passage, its number, a display name (the title, else the
file name without its folders) and its text. A ``Passage`` has no other field, so file-system paths, tenant
ids, ACL groups, keys and internal ids cannot be rendered into a prompt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from citewise.errors import InvalidRequest

PROMPTS_DIR = Path(__file__).parent / "prompts"
USER_SEPARATOR = "===== user ====="
ABSTAIN_TEXT = "The documents do not contain an answer to this question."
_PATH_LIKE = re.compile(r"^(?:/|~|\\\\|[A-Za-z]:[\\/]|[a-z][a-z0-9+.-]*://)")  # a title that is a path or URI
_NAME = re.compile(r"^(?P<name>[a-z][a-z0-9_\-]*)(?:@(?P<version>\d+))?$")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    system: str
    user: str
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Passage:
    """One numbered source shown to the model: all the provider ever sees of a retrieved chunk."""

    n: int
    name: str  # the title, else the file name (never a path: see ``display_name``)
    text: str


def display_name(title: str, source: str) -> str:
    """What the model may call a source: ``title``, else the last part of ``source`` (a path or URI)."""
    title = title.strip()
    if title and not _PATH_LIKE.match(title):
        return title
    path = title or source
    tail = re.split(r"[\\/]", path.split("?", 1)[0].rstrip("/\\"))[-1]
    return tail or "untitled"


@dataclass(frozen=True)
class Messages:
    system: str
    user: str


def available(directory: Path = PROMPTS_DIR) -> dict[str, list[int]]:
    """Prompt names and their versions (ascending)."""
    found: dict[str, list[int]] = {}
    for path in directory.glob("*@*.txt"):
        match = _NAME.match(path.stem)
        if match and match.group("version"):
            found.setdefault(match.group("name"), []).append(int(match.group("version")))
    return {name: sorted(versions) for name, versions in sorted(found.items())}


def load_prompt(ref: str, directory: Path = PROMPTS_DIR) -> PromptTemplate:
    """``answer@1`` → that file; ``answer`` → its newest version. Unknown names raise ``InvalidRequest``."""
    match = _NAME.match(ref.strip())
    known = available(directory)
    listing = ", ".join(f"{n}@{v}" for n, vs in known.items() for v in vs) or "none"
    if not match or match.group("name") not in known:
        raise InvalidRequest(f"unknown prompt {ref!r}; available: {listing} (set CITEWISE_GENERATION__PROMPT)")
    name = match.group("name")
    version = int(match.group("version") or known[name][-1])
    if version not in known[name]:
        raise InvalidRequest(f"prompt {name!r} has no version {version}; available: {listing}")
    raw = (directory / f"{name}@{version}.txt").read_bytes()
    text = raw.decode("utf-8")
    system, sep, user = text.partition(USER_SEPARATOR)
    if not sep:
        raise InvalidRequest(f"prompt file {name}@{version}.txt lacks the line {USER_SEPARATOR!r}")
    return PromptTemplate(name, version, system.strip(), user.strip(), hashlib.sha256(raw).hexdigest())


def fence_word(passages: list[Passage]) -> str:
    digest = hashlib.sha256("\x1e".join(p.text for p in passages).encode("utf-8")).hexdigest()
    return f"SOURCE-{digest[:10]}"


def defuse(text: str) -> str:
    """Make ``<<`` / ``>>`` inert so passage text cannot open or close a fence."""
    return text.replace("<<", "‹‹").replace(">>", "››")


def render_passages(passages: list[Passage], fence: str) -> str:
    blocks = []
    for p in passages:
        header = f"[{p.n}] {defuse(p.name)}"
        blocks.append(f"{header}\n<<{fence} {p.n}>>\n{defuse(p.text.strip())}\n<</{fence} {p.n}>>")
    return "\n\n".join(blocks)


def render(template: PromptTemplate, question: str, passages: list[Passage], max_sentences: int = 3) -> Messages:
    """System and user messages for ``question`` over ``passages``."""
    fence = fence_word(passages)
    values = {
        "question": defuse(question.strip()),
        "passages": render_passages(passages, fence),
        "fence": fence,
        "max_sentences": str(max_sentences),
        "abstain_text": ABSTAIN_TEXT,
    }
    return Messages(
        system=Template(template.system).safe_substitute(values),
        user=Template(template.user).safe_substitute(values),
    )
