"""Checking an LLM's answer: hygiene, citation support, question relevance; the repair prompt.

``check`` cleans the raw text (``generation.hygiene``), verifies each sentence against the passages
(``generation.verify``) and scores its relevance to the question (``generation.relevance``). A sentence
counts when it is supported and relevant; the others get a ``reason`` ("unsupported", "off_question") and,
in ``remove`` mode, ``shown=False``. When nothing counts the Answerer falls back (see ``Answerer``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from citewise.settings import GenerationSettings
from citewise.types import AnswerSentence
from generation.hygiene import Cleaned, PromptEcho, clean
from generation.prompts import Messages, Passage
from generation.relevance import is_relevant, relevance_scores
from generation.support import Scorer
from generation.verify import Source, Verified, verify

UNSUPPORTED = "unsupported"
OFF_QUESTION = "off_question"
# appended to the user message for the one repair round (GenerationSettings.repair)
REPAIR_NOTE = (
    "Your previous answer had sentences that the passages do not support or that do not answer the question:\n"
    "{rejected}\n"
    "Answer again: copy facts from the passages, at most {max_sentences} sentences, "
    "each ending with its passage number in square brackets."
)


@dataclass(frozen=True)
class Checked:
    verified: Verified  # sentences marked: relevance, reason, shown
    cleaned: Cleaned

    @property
    def kept(self) -> bool:
        """Some sentence is supported and addresses the question."""
        return any(s.supported and not s.reason for s in self.verified.sentences)

    @property
    def rejected(self) -> list[AnswerSentence]:
        return [s for s in self.verified.sentences if s.reason]


def check(
    text: str,
    question: str,
    sources: list[Source],
    passages: list[Passage],
    messages: Messages,
    evidence: float,
    scorer: Scorer,
    settings: GenerationSettings,
) -> Checked:
    cleaned = clean(text, PromptEcho(question, passages, messages), settings.max_sentences)
    verified = verify(cleaned.text, sources, scorer, settings.min_support)
    by_n = {s.n: s for s in sources}
    claims = [s.text for s in verified.sentences]
    support_texts = [_supporting_sentence(s, by_n, scorer) for s in verified.sentences]
    scores = relevance_scores(question, claims, support_texts, sources, scorer)
    marked = []
    for sentence, score in zip(verified.sentences, scores, strict=True):
        relevant = is_relevant(score, evidence, settings.min_relevance)
        reason = "" if sentence.supported and relevant else (UNSUPPORTED if not sentence.supported else OFF_QUESTION)
        shown = not reason or settings.unsupported == "flag"
        marked.append(replace(sentence, relevance=score, reason=reason, shown=shown))
    return Checked(replace(verified, sentences=tuple(marked)), cleaned)


def repair_messages(messages: Messages, checked: Checked, max_sentences: int) -> Messages:
    """The same request plus a note naming the sentences that were not kept."""
    listed = "\n".join(f"- {s.text}" for s in checked.rejected) or "- (nothing usable)"
    note = REPAIR_NOTE.format(rejected=listed, max_sentences=max_sentences)
    return Messages(messages.system, f"{messages.user}\n\n{note}")


def _supporting_sentence(sentence: AnswerSentence, by_n: dict[int, Source], scorer: Scorer) -> str | None:
    """The passage sentence that best supports a supported sentence (None when unsupported)."""
    if not sentence.supported or not sentence.citations:
        return None
    matches = [scorer.support(sentence.text, by_n[n].text, by_n[n].spans) for n in sentence.citations if n in by_n]
    best = max(matches, key=lambda m: m.score, default=None)
    return best.span.text if best is not None and best.span.text else None
