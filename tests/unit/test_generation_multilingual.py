"""Answer scoring in the question's language: terms, stop words, the encoder's languages, sentence ends."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from citewise.types import Chunk, Hit
from generation.gate_features import is_whole
from generation.support import Scorer
from generation.text import char_grams, scoring_language, terms
from generation.verify import Source


class ConstantEncoder:
    """Every text gets the same unit vector: cosine 1.0 everywhere (what a blind encoder adds is noise)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0


def test_latin_text_in_another_language_gets_its_stemmer_and_stop_words() -> None:
    # German: Snowball stems and German stop words; the English analysis would keep "der", "die", "und"
    assert terms("Die Verteidigung der Panthers", "de") == terms("Verteidigungen Panthers", "de")
    assert len(terms("der die das und", "de")) == 0
    assert terms("The cities were founded", "en") == terms("The cities were founded")  # English unchanged
    assert terms("The cities were founded", "und") == terms("The cities were founded")


def test_hindi_and_vietnamese_question_words_do_not_count_as_terms() -> None:
    # Qdrant has no stop-word list for these; scoring drops question and function words that stay one term
    assert len(terms("भारत की राजधानी कौन है", "hi")) == 2  # भारत, राजधानी
    assert len(terms("Thủ đô của Việt Nam là gì", "vi")) == 4  # thủ, đô, việt, nam


def test_a_short_question_takes_the_passages_language() -> None:
    question = "Câte mingi a interceptat Josh Norman?"  # too short for the model alone
    passage = "Josh Norman a interceptat patru mingi în sezonul regulat, iar echipa a câștigat campionatul."
    assert scoring_language(question, [passage]) == "ro"
    assert scoring_language("How many points did the Panthers defense give up?") == "en"


def test_a_question_outside_the_encoders_languages_is_scored_on_its_terms_alone() -> None:
    question = "黑豹队的防守丢了多少分？"
    sentences = ["黑豹队的防守只丢了308分，在联赛中排名第六。", "比赛在圣克拉拉举行。"]
    blind = Scorer(ConstantEncoder(), languages=("en",))  # type: ignore[arg-type]
    lexical = Scorer(None).relevance(question, sentences)
    assert blind.relevance(question, sentences) == lexical
    assert lexical[0] > 0.5 > lexical[1]
    # a language the encoder declares mixes in the cosine (here 1.0 for every sentence)
    english = ["The Panthers defense gave up just 308 points.", "The game was played in Santa Clara."]
    mixed = blind.relevance("How many points did the Panthers defense give up?", english)
    assert mixed != Scorer(None).relevance("How many points did the Panthers defense give up?", english)
    assert Scorer(ConstantEncoder()).understands("zh")  # type: ignore[arg-type]  # "*": any language


def test_a_sentence_ending_in_its_scripts_full_stop_is_whole() -> None:
    text = "黑豹队的防守只丢了 308 分 ，在联赛中排名第六。 他们 以 24 次 拦截 领先 联盟。"
    chunk = Chunk(doc_id="d", chunk_index=0, text=text, source="p.txt", title="", char_start=0, char_end=len(text))
    source = Source.from_hit(1, Hit(chunk=chunk, score=1.0))
    assert len(source.spans) == 2
    assert is_whole(source, 1)
    cut = Chunk(doc_id="d", chunk_index=0, text=text[:-1], source="p.txt", title="", char_start=0, char_end=10)
    assert not is_whole(Source.from_hit(1, Hit(chunk=cut, score=1.0)), 1)


def test_character_grams_match_word_forms_that_analysis_keeps_apart() -> None:
    question = "بماذا أخبر لوثر الرهبان والراهبات بشأن عهودهم؟"
    sentences = ["والراهبات أنه يمكنهم نكث عهودهم دون الوقوع في الخطيئة.", "كان لوثر أستاذاً في جامعة فيتنبرغ."]
    scorer = Scorer(ConstantEncoder(), languages=("en",))  # type: ignore[arg-type]
    with_grams = scorer.relevance(question, sentences)
    assert with_grams[0] > with_grams[1]
    assert char_grams("الراهبات", "ar") & char_grams("والراهبات", "ar") == char_grams("الراهبات", "ar")
    assert char_grams("人口多少", "zh") == {"人口", "口多", "多少"}  # bigrams where words have no spaces


def test_without_a_cosine_a_sentences_passage_counts_in_its_score() -> None:
    from generation.gate import EvidenceGate

    def source(n: int, text: str) -> Source:
        chunk = Chunk(doc_id=f"d{n}", chunk_index=0, text=text, source=f"p{n}.txt", title="", char_start=0,
                      char_end=len(text))  # fmt: skip
        return Source.from_hit(n, Hit(chunk=chunk, score=1.0))

    question = "Wie viele Universitäten hat Newcastle?"
    right = source(2, "Newcastle liegt am Tyne. Die Stadt hat zwei Universitäten.")
    wrong = source(1, "Harvard ist eine Universität. Die Universitäten haben Stadien.")  # ties without context
    scorer = Scorer(ConstantEncoder(), languages=("en",))  # type: ignore[arg-type]
    ranked = EvidenceGate(scorer, None, 0.4).assess(question, [wrong, right]).sentences
    assert [s.source for s in ranked] == [2, 2, 1, 1]  # alone, both "Universitäten" sentences would tie


def test_initials_in_cyrillic_and_greek_do_not_end_a_sentence() -> None:
    from generation.text import sentence_spans

    text = "Галерея Т.Т. Цуй открылась в 1991 году. Это всё."
    assert [s.text for s in sentence_spans(text)] == ["Галерея Т.Т. Цуй открылась в 1991 году.", "Это всё."]


def test_when_and_how_many_are_recognised_in_every_language_and_favour_a_new_number() -> None:
    from generation.text import asks_for_number, new_number

    questions = ["该法令是何时宣布的?", "متى تم إعلان هذا المرسوم؟", "Сколько очков?", "यह कब हुई थी ?", "Wann war das?"]
    assert all(asks_for_number(q) for q in questions)
    assert not asks_for_number("Was übersetzte Marlee Matlin?")
    assert new_number("Он издал эдикт в 1685 году.", "Когда был издан этот эдикт?")
    assert not new_number("Эдикт 1685 года.", "Когда был издан эдикт 1685 года?")
