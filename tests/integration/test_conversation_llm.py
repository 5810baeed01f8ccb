"""The follow-up rewrite with a real LLM (SmolLM2-135M on llama.cpp's OpenAI-compatible server, ``tests/llm_server``).

A model this small often answers instead of rewriting: what is checked is the path (prompt ``rewrite@1`` rendered,
the real provider called, its output cleaned) and the guard rails (every result is a standalone question; an
unusable output falls back to the rule), not the model's skill; BENCHMARKS.md has the figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from citewise.settings import GenerationSettings
from generation.followup import PriorTurn, QuestionRewriter
from generation.providers import build_chat_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CASES = [
    ("Who was Harold II?", "Harold II was the last crowned Anglo-Saxon king of England.", "Where did he die?"),
    ("What was the 1973 oil crisis?", "It was an oil embargo by OAPEC members.", "When did it begin?"),
]


class Counting:
    def __init__(self, inner: Any) -> None:
        self.inner, self.provider, self.model = inner, inner.provider, inner.model
        self.outputs: list[str] = []

    def complete(self, messages: Any) -> Any:
        completion = self.inner.complete(messages)
        self.outputs.append(completion.text)
        return completion

    def stream(self, messages: Any) -> Any:
        return self.inner.stream(messages)


def test_real_llm_rewrites_are_questions_or_fall_back_to_the_rule(llm_generation_settings: GenerationSettings) -> None:
    chat = Counting(build_chat_model(llm_generation_settings, None))
    rewriter = QuestionRewriter(chat, "llm")
    for first, answer, follow_up in CASES:
        rewrite = rewriter.rewrite(follow_up, [PriorTurn(first, first, answer)])
        assert rewrite.method in ("llm", "rule")
        assert rewrite.standalone.endswith("?") and "\n" not in rewrite.standalone
        if rewrite.method == "rule":  # the model's output was not a usable question
            assert rewrite.standalone in ("Where did Harold II die?", "When did the 1973 oil crisis begin?")
    assert len(chat.outputs) == len(CASES)  # the real server was asked every time
