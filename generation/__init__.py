"""Answers with checked citations: versioned prompts, LLM providers, the extractive answerer, verification."""

from generation.answerer import Answerer, StreamEvent
from generation.serialize import answer_json, citation_json

__all__ = ["Answerer", "StreamEvent", "answer_json", "citation_json"]
