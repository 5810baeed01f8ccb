"""Sentence spans, answer splitting and term matching: the ground the citation checks stand on."""

from __future__ import annotations

from generation.text import coverage, numbers, sentence_spans, split_answer, strip_markers, terms


def test_sentence_spans_are_exact_offsets() -> None:
    text = "  The Normans were in France. Dr. Smith wrote e.g. this in 1066!\n\nA new paragraph  without end"
    spans = sentence_spans(text)
    assert [s.text for s in spans] == [
        "The Normans were in France.",
        "Dr. Smith wrote e.g. this in 1066!",
        "A new paragraph  without end",
    ]
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_sentence_spans_of_empty_text() -> None:
    assert sentence_spans("") == []
    assert sentence_spans("   \n ") == []


def test_split_answer_moves_trailing_markers_to_their_sentence() -> None:
    parts = split_answer("Paris is the capital [1]. It has 2 million people. [2][3] Nothing else.")
    assert parts == [
        ("Paris is the capital [1].", (1,)),
        ("It has 2 million people. [2][3]", (2, 3)),
        ("Nothing else.", ()),
    ]
    assert strip_markers("Paris is the capital [1].") == "Paris is the capital."


def test_terms_stem_and_drop_stopwords() -> None:
    assert terms("The cities were founded") == terms("a city that was founding")
    assert coverage("founded cities", "A city was founded there") == 1.0
    assert coverage("the of and", "anything") == 1.0
    assert coverage("Rome Paris", "Paris only") == 0.5


def test_numbers_ignore_citation_markers() -> None:
    assert numbers("In 1,066 [3] there were 2.5 kings") == {"1066", "2.5"}


def test_invented_names_are_capitalised_words_the_passage_never_writes() -> None:
    from generation.text import invented_names, names

    claim = "The Hollis Professor of Divinity connected to the Liberal Party. [1]"
    passage = "When the Hollis Professor of Divinity David Tappan died in 1803, a struggle broke out."
    assert invented_names(claim, passage) == {"liberal", "party"}
    assert names("Paris is big. In 1903, Harvard Stadium opened.") == {"harvard", "stadium"}  # not sentence starts
    assert invented_names("Rollo led the NORSE raiders.", "rollo and the Norse") == set()  # any case; no acronyms
    assert names("诺曼人是谁？ Москва") == set()  # scripts without case (and non-ASCII capitals) are not judged


def test_arabic_terms_fold_hamza_alefs_vowel_marks_and_proclitics() -> None:
    # XQuAD ar: the question writes "الإهتمام", its answer sentence "الاهتمام"
    question = "متى بدأ الناس من جديد في إظهار الإهتمام بتسلا؟"
    answer = "كان هناك تجدد في الاهتمام الشعبي بتسلا منذ التسعينيات."
    assert set(terms("الإهتمام", "ar")) <= set(terms(answer, "ar"))
    assert coverage(question, answer, "ar") > coverage("الإهتمام", "التسعينيات", "ar")
    # the article and the preposition + article: one term with the bare word (Snowball alone keeps them apart)
    assert terms("الفريق", "ar") == terms("فريق", "ar") == terms("للفريق", "ar") == terms("بالفريق", "ar")
    assert terms("صمّم", "ar") == terms("صمم", "ar")  # shadda dropped
    assert terms("وقت", "ar") != terms("قت", "ar")  # a three-letter word keeps its first و


def test_russian_question_words_are_no_terms() -> None:
    # XQuAD ru: "how many" and "which" are not what a sentence must share with the question
    question = "Сколько команд достигли Суперкубка, когда в их составе играл Мэннинг?"
    assert terms("сколько какие каком почему является", "ru") == []
    assert len(terms(question, "ru")) == 6  # команд достигли Суперкубка составе играл Мэннинг
