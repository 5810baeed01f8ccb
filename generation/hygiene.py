"""Output hygiene: what a model copies from its prompt is removed before its answer is verified.

Small models echo their input: the fence markers around passages (``<<SOURCE-… 5>>``), the passage headers
(``[2] Normandy``), lines of the instructions, the question, and template placeholders (``[n]``,
``The answer is [n].``). ``clean`` removes those, drops repeated sentences and keeps at most
``max_sentences``; what it removed is listed (for logs and tests), never shown to users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generation.prompts import Messages, Passage, fence_word, render_passages
from generation.text import sentence_spans, split_answer, strip_markers, terms

# <<FENCE n>>, <</FENCE n>>, their defused forms ‹‹…››, and half-written ones at the end of the output
_FENCE = re.compile(r"(?:<<|‹‹)\s*/?\s*[A-Za-z][\w\-]{0,40}(?:\s+\d{1,4})?\s*(?:>>|››|$)")
_FENCE_WORD = re.compile(r"\bSOURCE-[0-9a-f]{4,}\b(?:\s+\d{1,4})?")
# placeholders a model copies from instructions instead of filling in: [n], [N], [x], [number], $fence
_PLACEHOLDER = re.compile(r"\[(?:[a-zA-Z]|n+|num|number|source|passage|\.\.\.|…)\]|\$[a-z_]+\b")
_LABEL = re.compile(r"^\s*(?:answer|final answer|response)\s*:\s*", re.IGNORECASE)
_PROMPT_LINE = re.compile(r"^\s*(?:question|passages?|source passages?|sources?|rules?)\s*:.*$", re.IGNORECASE)
_FILLER = re.compile(r"^(?:the\s+)?(?:answer|sources?|passages?|citations?)(?:\s+(?:is|are))?\s*[:.]?$", re.I)
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Cleaned:
    text: str  # what is left, sentence by sentence, at most max_sentences
    removed: tuple[str, ...]  # what was taken out (fences, headers, echoed prompt text, placeholders, extras)


class PromptEcho:
    """What a model could copy from one rendered prompt: fence word, passage headers, instruction text."""

    def __init__(self, question: str, passages: list[Passage], messages: Messages) -> None:
        fence = fence_word(passages)
        self.fence = fence
        self.question = _norm(question)
        self.headers = [
            re.compile(rf"^\s*\[{p.n}\]\s*{re.escape(p.name)}\s*[:.]?\s*$", re.IGNORECASE) for p in passages
        ]
        self.names = {_norm(p.name) for p in passages}
        block = render_passages(passages, fence)
        self.instructions = _norm(messages.system + "\n" + messages.user.replace(block, "\n"))


def clean(text: str, echo: PromptEcho, max_sentences: int) -> Cleaned:
    """The answer without echoed prompt parts, repeated sentences or sentences past ``max_sentences``."""
    removed: list[str] = []
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _PROMPT_LINE.match(line) or any(h.match(line) for h in echo.headers):
            removed.append(line.strip())
            continue
        lines.append(line)
    body = "\n".join(lines)
    for pattern in (_FENCE, _FENCE_WORD, _PLACEHOLDER):
        removed.extend(m.group(0) for m in pattern.finditer(body))
        body = pattern.sub(" ", body)
    body = _LABEL.sub("", body.strip())
    kept: list[str] = []
    seen: set[str] = set()
    for sentence in _sentences(body):
        claim = _LABEL.sub("", strip_markers(sentence))
        key = _norm(claim)
        if _echoed(claim, key, echo) or key in seen:
            removed.append(sentence)
            continue
        seen.add(key)
        if len(kept) >= max_sentences:
            removed.append(sentence)
            continue
        kept.append(_LABEL.sub("", sentence))
    return Cleaned(" ".join(kept), tuple(r for r in removed if r))


def _sentences(body: str) -> list[str]:
    """Sentences with their trailing ``[n]`` markers (as ``split_answer`` groups them), one line at a time."""
    out: list[str] = []
    for paragraph in re.split(r"\n+", body):
        if sentence_spans(paragraph):
            out.extend(s for s, _ in split_answer(paragraph))
    return out


def _echoed(claim: str, key: str, echo: PromptEcho) -> bool:
    """Nothing of its own: no content words, a filler, the question, a passage name, or instruction text."""
    if not terms(claim) or _FILLER.match(claim) or claim.rstrip().endswith("?"):
        return True
    if key == echo.question or key in echo.names:
        return True
    return len(key.split()) >= 4 and key in echo.instructions


def _norm(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))
