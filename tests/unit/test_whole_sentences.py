"""A retrieved chunk cut mid-sentence is widened to that sentence's edges in its document (real XQuAD text):
MiniLM's word pieces cut Russian chunks inside long sentences, and the answerer quotes only whole sentences."""

from __future__ import annotations

import json
from typing import Any

import pytest

from citewise.sentences import sentence_spans
from citewise.settings import GenerationSettings
from citewise.types import Chunk, Hit
from generation import Answerer
from generation.citations import (
    MIN_PASSAGE_CHARS,
    SENTENCE_REACH,
    DocumentTexts,
    distinct_passages,
    whole_sentences,
    widened,
)
from generation.support import Scorer
from tests.generation_support import ListRetriever, TextStore
from tests.paths import SHARED, require

# the sentence of XQuAD's Russian Super Bowl paragraph (article 0, paragraph 0) whose answer ("Кони Или") a
# 200-word-piece chunk cut in two
SENTENCE_START = "Линия Пэнтерс также представила"
SENTENCE_END = "5 мешков всего за 9 стартов."


@pytest.fixture(scope="module")
def paragraph() -> str:
    data = json.loads(require(SHARED / "datasets" / "xquad" / "xquad.ru.json").read_text(encoding="utf-8"))
    return str(data["data"][0]["paragraphs"][0]["context"])


def chunk(text: str, start: int, end: int) -> Chunk:
    return Chunk(doc_id="p0", chunk_index=1, text=text[start:end], source="p0.txt", title="p0", char_start=start,
                 char_end=end)  # fmt: skip


def test_a_chunk_cut_inside_a_sentence_is_widened_to_whole_sentences(paragraph: str) -> None:
    first, last = paragraph.index(SENTENCE_START), paragraph.index(SENTENCE_END) + len(SENTENCE_END)
    cut = paragraph.index("Джареда")  # the chunk starts and ends inside the sentence
    hit = whole_sentences(Hit(chunk(paragraph, cut, cut + 60), 1.0), DocumentTexts(TextStore({"p0": paragraph})))
    start, end = hit.chunk.char_start, hit.chunk.char_end
    assert start <= first and last <= end  # the cut sentence whole, and the paragraph's sentences around it
    assert hit.chunk.text == paragraph[start:end]  # byte-exact document text
    assert end - start >= MIN_PASSAGE_CHARS
    spans = [s for s in sentence_spans(paragraph) if start <= s.start < end]
    assert spans[0].start == start and spans[-1].end == end  # whole sentences at both edges


def test_a_short_chunk_grows_by_its_neighbours_next_one_first(paragraph: str) -> None:
    sentences = sentence_spans(paragraph)
    third = sentences[2]  # "Нападающий Марио Эдисон добавил 6½ мешков." (42 characters)
    start, end = widened(paragraph, third.start, third.end)
    assert end - start >= MIN_PASSAGE_CHARS
    assert start <= third.start and end >= sentences[3].end
    assert {start, end} <= {s.start for s in sentences} | {s.end for s in sentences}


def test_a_chunk_of_whole_sentences_and_a_chunk_without_its_document_stay_as_they_are(paragraph: str) -> None:
    whole = (0, len(paragraph))
    assert widened(paragraph, *whole) == whole
    cut = paragraph.index("Джареда")
    hit = Hit(chunk(paragraph, cut, cut + 60), 1.0)
    assert whole_sentences(hit, DocumentTexts(None)) is hit  # no docstore: the chunk is all there is
    assert whole_sentences(hit, DocumentTexts(TextStore({"p0": "other text"}))) is hit  # stale: left alone


def test_passages_inside_a_better_ranked_one_are_dropped(paragraph: str) -> None:
    texts = DocumentTexts(TextStore({"p0": paragraph}))
    cut = paragraph.index("Джареда")
    outer = whole_sentences(Hit(chunk(paragraph, cut, cut + 60), 1.0), texts)
    inner = Hit(chunk(paragraph, cut, cut + 30), 0.5)
    other = Hit(Chunk(doc_id="p1", chunk_index=0, text="x", source="p1.txt", title="p1", char_start=cut,
                      char_end=cut + 30), 0.4)  # fmt: skip
    assert distinct_passages([outer, inner, other]) == [outer, other]


def test_widening_stops_at_a_line_break_and_within_its_reach(paragraph: str) -> None:
    text = "Заголовок.\n" + paragraph
    cut = text.index(paragraph[:40]) + 20  # inside the first sentence, which follows a line break
    start, _ = widened(text, cut, cut + 10)
    assert start == text.index(paragraph[:40])  # neither the heading nor the line break
    long = "слово " * SENTENCE_REACH + "конец."  # a "sentence" longer than the reach: not widened
    middle = len(long) // 2
    assert widened(long, middle, middle + 20) == (middle, middle + 20)


def test_the_answer_quotes_the_whole_sentence_byte_exactly(paragraph: str) -> None:
    cut = paragraph.index("Джареда")
    end = paragraph.index("Кони Или") + len("Кони Или")
    pieces = [chunk(paragraph, 0, cut), chunk(paragraph, cut, end), chunk(paragraph, end, len(paragraph))]
    pieces = [Chunk(**{**c.__dict__, "chunk_index": i}) for i, c in enumerate(pieces)]
    store = TextStore({"p0": paragraph})
    answerer = Answerer(GenerationSettings(min_evidence=0.1), ListRetriever(pieces), store, Scorer(),
                        chat_factory=lambda _s, _n: None)  # fmt: skip
    answer: Any = answerer.answer("С кем вместе в линии Пэнтерс был ветеран Джаред Аллен?", k=3)
    assert not answer.abstained and "Кони Или" in answer.answer
    c = answer.citations[0]
    assert SENTENCE_START in c.quote and SENTENCE_END in c.quote
    assert paragraph[c.char_start : c.char_end] == c.quote
