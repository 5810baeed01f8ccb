"""citewise.sentences: the one sentence splitter (chunking and answers), exact offsets of a part of a text."""

from __future__ import annotations

from citewise.sentences import line_spans, sentence_spans


def test_a_part_of_a_text_is_split_with_offsets_into_the_whole_text() -> None:
    text = "Head. Dr. Who met Ms. Li in 1999. 他来了。她走了！ Then (e.g. here) it ended.\n\nNext one"
    start = text.index("Dr.")
    spans = sentence_spans(text, start, len(text))
    assert [s.text for s in spans] == [
        "Dr. Who met Ms. Li in 1999.",
        "他来了。",
        "她走了！",
        "Then (e.g. here) it ended.",
        "Next one",
    ]
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert [s.text for s in sentence_spans(text[start:])] == [s.text for s in spans]


def test_lines_are_table_rows_blank_ones_dropped() -> None:
    text = "x\n a | b \n\n c | d\n"
    assert [(s.start, s.end, s.text) for s in line_spans(text, 2)] == [(3, 8, "a | b"), (12, 17, "c | d")]
