"""Output hygiene: echoed fences, passage headers, prompt text and placeholders never reach verification."""

from __future__ import annotations

from generation.hygiene import PromptEcho, clean
from generation.prompts import Passage, fence_word, load_prompt, render

QUESTION = "When was Harvard Stadium built?"
PASSAGES = [
    Passage(1, "Harvard University", "Harvard Stadium was built in 1903. It seats 30,000 people."),
    Passage(2, "Harvard-Yale Regatta", "The Harvard-Yale Regatta is a rowing race held since 1852."),
]


def cleaned(text: str, max_sentences: int = 3) -> tuple[str, tuple[str, ...]]:
    messages = render(load_prompt("answer@2"), QUESTION, PASSAGES, max_sentences)
    out = clean(text, PromptEcho(QUESTION, PASSAGES, messages), max_sentences)
    return out.text, out.removed


def test_echoed_fences_and_headers_are_removed() -> None:
    fence = fence_word(PASSAGES)
    raw = f"[1] Harvard University\n<<{fence} 1>>\nHarvard Stadium was built in 1903 [1].\n<</{fence} 1>>"
    text, removed = cleaned(raw)
    assert text == "Harvard Stadium was built in 1903 [1]."
    assert any(fence in r for r in removed) and "[1] Harvard University" in removed


def test_defused_and_half_written_fences_are_removed() -> None:
    text, _ = cleaned("Harvard Stadium was built in 1903 [1]. ‹‹SOURCE-ab12cd34ef 2›› <</SOURCE-ab12")
    assert text == "Harvard Stadium was built in 1903 [1]."


def test_placeholders_and_template_fillers_are_removed() -> None:
    text, removed = cleaned("The answer is [n]. [1] Harvard Stadium was built in 1903 [1]. Answer: [2]")
    assert text == "Harvard Stadium was built in 1903 [1]."
    assert "[n]" in removed


def test_echoed_instructions_and_question_are_removed() -> None:
    raw = (
        "Question: When was Harvard Stadium built?\n"
        "Use only facts stated in the passages; add no outside knowledge.\n"
        "When was Harvard Stadium built? It was built in 1903 [1]."
    )
    assert cleaned(raw)[0] == "It was built in 1903 [1]."


def test_repeats_are_dropped_and_the_answer_is_bounded() -> None:
    raw = " ".join(["It was built in 1903 [1]."] * 3 + [f"Fact number {i} about rowing [2]." for i in range(6)])
    text, removed = cleaned(raw, max_sentences=2)
    assert text == "It was built in 1903 [1]. Fact number 0 about rowing [2]."
    assert len(removed) == 2 + 5


def test_a_short_answer_is_kept() -> None:
    assert cleaned("Answer: 1903 [1].")[0] == "1903 [1]."
