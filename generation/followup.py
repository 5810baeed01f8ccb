"""A follow-up question ("and when did it end?") made standalone before retrieval, from the conversation so far.

Two ways, chosen by ``CITEWISE_CONVERSATIONS__REWRITE`` (``auto``: the LLM when one is configured, else the rule):

**llm** — the configured LLM is asked with the versioned prompt ``rewrite@N`` (``generation/prompts``) for one
standalone question, given the last turns. Its output is cleaned (first line, no label or quotes); when it is
empty, too long, not a question (no question mark at the end), or the LLM fails, the rule below is used instead
(``method`` says which one ran).

**rule** (offline, deterministic, English function words), from the earlier turns' standalone questions.

The subject comes first: key phrases of the latest turn that was asked standalone (so a chain of follow-ups
keeps its subject), then those of the previous turn's standalone question.

1. A question is a follow-up when it starts with a connective (``and``, ``but``, ``so``, ``also``, ``then``,
   ``what about``, ``how about``), contains a third-person pronoun (it, its, they, them, their, he, him, his, she,
   her, this, these, those), or has at most two content words. Otherwise it is left unchanged (``none``).
2. The previous question's *key phrases*: the subject of a definition question (``what/who is|was|are X``);
   then runs of capitalised words (joined by of/the/de/von/van/... and numbers: "Apollo 11"; a possessive ends
   one: "Melbourne's suburbs" → Melbourne), quoted text and numbers (years), in order; without any, its content
   words. (A "definition" ending in a preposition, "What is Kenya known for?", is not one.)
3. ``what about X`` / ``how about X``: the previous question with its last key phrase replaced by X.
   A pronoun after a capitalised name of the question's own: unchanged (it refers to that name).
   Another pronoun: the first pronoun is replaced by the first key phrase (``its`` / ``their`` / ``his`` /
   possessive ``her`` → ``<phrase>'s``, ``<phrases>'``), and ``there`` by ``in <the next key phrase>``
   ("Did Huguenots settle in Saarland?" + "who led them there?" → "Who led Huguenots in Saarland?").
   Otherwise (ellipsis: "and the population?"): the key phrases are appended, ``… (about: X, Y)?``.
The leading connective is dropped in every case.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from citewise.errors import CitewiseError, ConfigError, InvalidRequest
from citewise.telemetry import get_logger
from generation.prompts import Messages, defuse, load_prompt
from generation.providers import ChatModel
from generation.text import STOPWORDS

log = get_logger(__name__)

Method = Literal["none", "rule", "llm", "off"]
MAX_STANDALONE_CHARS = 4000  # the answerer's question limit
HISTORY_TURNS = 3  # turns shown to the LLM
ANSWER_CHARS = 400  # of each earlier answer shown to the LLM

_TOKEN = re.compile(r"\"[^\"]+\"|“[^”]+”|[\w'’-]+|[^\w\s]")
_CONNECTIVE = re.compile(r"^\s*(?:(?:and|but|so|also|then|ok|okay|well|now)\b[\s,]*)+", re.IGNORECASE)
_WHAT_ABOUT = re.compile(r"^\s*(?:what|how)\s+about\s+(?P<rest>.+?)\s*\??\s*$", re.IGNORECASE)
_DEFINITION = re.compile(
    r"^\s*(?:what|who|which)\s+(?:is|are|was|were)\s+(?P<np>.+?)\s*\??\s*$",
    re.IGNORECASE,
)
PRONOUNS = frozenset(["it", "its", "they", "them", "their", "he", "him", "his", "she", "her", "this", "these", "those"])
_POSSESSIVE = frozenset({"its", "their", "his"})
_JOINERS = frozenset(["of", "the", "de", "da", "di", "del", "la", "le", "von", "van", "der", "du", "y", "al", "bin"])
_QUESTION_WORDS = frozenset(
    [
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "in",
        "on",
        "at",
        "for",
        "from",
        "during",
        "to",
        "by",
    ]
)
_NUMBER = re.compile(r"^\d[\d,.]*$")
_POSSESSIVE_END = re.compile(r"['’]s?$")
_TRAILING = frozenset(["for", "like", "about", "of", "in", "on", "to", "with", "from", "by", "at"])
_LABEL = re.compile(
    r"^\s*(?:(?:standalone|last|rewritten|follow-up)\s+question|question|rewritten|user)\s*:\s*", re.IGNORECASE
)
_QUESTION_MARKS = ("?", "？", "؟")


@dataclass(frozen=True)
class PriorTurn:
    """What the rewrite may use of an earlier turn."""

    question: str
    standalone: str
    answer: str


@dataclass(frozen=True)
class Rewrite:
    question: str  # as asked
    standalone: str  # what retrieval and the answerer get
    method: Method

    @property
    def changed(self) -> bool:
        return self.standalone != self.question


def rewrite_rule(question: str, history: Sequence[PriorTurn]) -> Rewrite:
    """The offline rule (see the module docstring)."""
    text = " ".join(question.split())
    if not history or not text:
        return Rewrite(question, text, "none")
    previous = history[-1].standalone
    own = key_phrases(previous)
    if not own:
        return Rewrite(question, text, "none")
    about = _WHAT_ABOUT.match(_CONNECTIVE.sub("", text))
    if about:
        return Rewrite(question, _cap(_replace_last(previous, own[-1], about.group("rest"))), "rule")
    phrases = _dedupe([*key_phrases(_anchor(history).standalone), *own])
    body = _CONNECTIVE.sub("", text)
    connective = body != text
    tokens = _TOKEN.findall(body)
    words = [t.lower() for t in tokens]
    pronoun = next((i for i, w in enumerate(words) if w in PRONOUNS), None)
    content = [w for w in words if w.isalnum() and w not in STOPWORDS and w not in _QUESTION_WORDS]
    if not (connective or pronoun is not None or len(content) <= 2):
        return Rewrite(question, text, "none")
    if pronoun is not None and _names_before(tokens, pronoun):  # the pronoun refers to the question's own name
        return Rewrite(question, text, "none")
    if pronoun is not None:
        standalone = _substitute(tokens, pronoun, phrases[0])
        place = next((p for p in phrases[1:] if p.lower() not in standalone.lower()), None)
        if place is not None and re.search(r"\bthere\b", standalone):  # "there": the next key phrase, a place
            standalone = re.sub(r"\bthere\b", f"in {place}", standalone, count=1)
    else:
        missing = [p for p in phrases if p.lower() not in body.lower()]
        if not missing:
            return Rewrite(question, text if not connective else _cap(body), "rule" if connective else "none")
        standalone = f"{body.rstrip(' ?')} (about: {', '.join(missing)})?"
    return Rewrite(question, _cap(standalone), "rule")


def key_phrases(question: str) -> list[str]:
    """The phrases a follow-up may refer to (rule step 2), most important first."""
    found: list[str] = []
    definition = _DEFINITION.match(question)
    if definition and definition.group("np").split()[-1].lower() not in _TRAILING:  # not "what is X known for"
        found.append(definition.group("np").strip())
    tokens = _TOKEN.findall(question)
    run: list[str] = []
    for i, tok in enumerate([*tokens, "."]):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "." and run and len(run[-1]) <= 3 and following[:1].isupper():  # "St. Bartholomew", "H. Garrison"
            run[-1] += "."
            continue
        capital = tok[:1].isupper() and not (i == 0 and tok.lower() in _QUESTION_WORDS | STOPWORDS)
        if capital or (run and (tok.lower() in _JOINERS or tok.isdigit())):  # "Apollo 11", "Treaty of Rome"
            if not run and i > 0 and tokens[i - 1].lower() == "the":
                run.append(tokens[i - 1])  # "the Normans", as the question wrote it (see _article)
            possessive = None if following[:1].isupper() else _POSSESSIVE_END.search(tok)  # "St. Bartholomew's Day"
            run.append(tok[: possessive.start()] if possessive else tok)
            if not possessive:
                continue
            tok = ""  # "Melbourne's suburbs": the name ends at its possessive
        while run and run[-1].lower() in _JOINERS:
            run.pop()
        if run:
            found.append(_article(run))
        run = []
        if (tok[:1] in '"“' and len(tok) > 2) or _NUMBER.match(tok):
            found.append(tok.strip('"“”'))
    if not found:
        found = [t for t in tokens if t.isalnum() and t.lower() not in STOPWORDS | _QUESTION_WORDS]
        found = [" ".join(found)] if found else []
    return _dedupe(found)


def _dedupe(phrases: list[str]) -> list[str]:
    unique: list[str] = []
    for phrase in phrases:
        if not any(phrase.lower() in u.lower() for u in unique):
            unique.append(phrase)
    return unique


def _anchor(history: Sequence[PriorTurn]) -> PriorTurn:
    """The turn that set the subject: the latest one asked standalone (not rewritten); else the earliest given."""
    for turn in reversed(history):
        if turn.standalone == " ".join(turn.question.split()):
            return turn
    return history[0]


def _article(run: list[str]) -> str:
    """A capitalised run with the "the" before it kept for plurals and several words ("the Normans", "the Warsaw
    Pact"), dropped for one word ("the Harvard library" → "Harvard")."""
    if run[0].lower() == "the" and len(run) == 2 and not run[1].endswith("s"):
        run = run[1:]
    return " ".join(run)


def _names_before(tokens: list[str], at: int) -> bool:
    """Whether the question names something before position ``at``: a capitalised word that is not its first
    (then a pronoun after it likely refers to that name: "Was Rollo a king, and when did he die?")."""
    return any(t[:1].isupper() and t.lower() not in PRONOUNS for t in tokens[1:at])


def _substitute(tokens: list[str], at: int, phrase: str) -> str:
    word = tokens[at].lower()
    following = tokens[at + 1].lower() if at + 1 < len(tokens) else ""
    possessive = word in _POSSESSIVE or (word == "her" and following.isalpha() and following not in STOPWORDS)
    owner = (f"{phrase}'" if phrase.endswith("s") else f"{phrase}'s") if possessive else phrase
    out = [*tokens[:at], owner, *tokens[at + 1 :]]
    return _join(out)


def _replace_last(previous: str, phrase: str, replacement: str) -> str:
    at = previous.lower().rfind(phrase.lower())
    if at < 0:
        return f"{previous.rstrip(' ?')} ({replacement})?"
    return previous[:at] + replacement + previous[at + len(phrase) :]


def _join(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return re.sub(r"\s+([?.!,;:)’'])", r"\1", text).replace("( ", "(")


def _cap(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if len(text) <= MAX_STANDALONE_CHARS else text[:MAX_STANDALONE_CHARS]


class QuestionRewriter:
    """Follow-ups → standalone questions: with ``chat`` (the configured LLM) and the prompt, else by the rule."""

    def __init__(self, chat: ChatModel | None, mode: str = "auto", prompt: str = "rewrite@1") -> None:
        if mode == "llm" and chat is None:
            raise ConfigError(
                "CITEWISE_CONVERSATIONS__REWRITE=llm needs an LLM: set CITEWISE_GENERATION__LLM, or use auto or rule"
            )
        self.chat = chat if mode in ("auto", "llm") else None
        self.mode = mode
        try:
            self.template = load_prompt(prompt) if self.chat is not None else None
        except InvalidRequest as exc:  # a server setting, not the client's request
            raise ConfigError(f"CITEWISE_CONVERSATIONS__REWRITE_PROMPT: {exc.message}") from None

    def rewrite(self, question: str, history: Sequence[PriorTurn]) -> Rewrite:
        text = " ".join(question.split())
        if self.mode == "off":
            return Rewrite(question, text, "off")
        if not history:
            return Rewrite(question, text, "none")
        if self.chat is None or self.template is None:
            return rewrite_rule(question, history)
        try:
            completion = self.chat.complete(self.messages(text, history))
        except CitewiseError as exc:
            log.warning("rewrite.llm_failed", error=exc.message)
            return rewrite_rule(question, history)
        standalone = clean_output(completion.text)
        if not standalone:
            log.warning("rewrite.llm_unusable", output=completion.text[:200])
            return rewrite_rule(question, history)
        return Rewrite(question, standalone, "llm")

    def messages(self, question: str, history: Sequence[PriorTurn]) -> Messages:
        assert self.template is not None
        from string import Template

        lines = []
        for turn in history[-HISTORY_TURNS:]:
            answer = " ".join(turn.answer.split())
            answer = answer if len(answer) <= ANSWER_CHARS else answer[:ANSWER_CHARS] + "…"
            lines.append(f"User: {defuse(turn.standalone)}\nAssistant: {defuse(answer)}")
        values = {"history": "\n\n".join(lines), "question": defuse(question)}
        return Messages(
            system=Template(self.template.system).safe_substitute(values),
            user=Template(self.template.user).safe_substitute(values),
        )


def clean_output(text: str) -> str:
    """The LLM's standalone question: its first non-empty line, without a label or quotes; "" when unusable
    (not a question: it does not end with a question mark, as an answer or a noun phrase would)."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip().strip("\"“”'").strip()
    if len(line) > MAX_STANDALONE_CHARS or not any(ch.isalnum() for ch in line) or not line.endswith(_QUESTION_MARKS):
        return ""
    return line
