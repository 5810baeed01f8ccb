"""Plain-text helpers: content terms, citation markers; sentence spans come from ``citewise.sentences``.
Deterministic, no models."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

from citewise.encoders.sparse import UNSPACED as _UNSPACED
from citewise.encoders.sparse import Bm25Encoder
from citewise.language import UNDETERMINED, detect, dominant
from citewise.sentences import Span as Span  # re-exported: the generation modules take it from here
from citewise.sentences import sentence_spans

MARKER = re.compile(r"\[(\d{1,4})\]")
# markers a source text carries itself (Wikipedia footnotes, "[citation needed]"): never an answer's citations
SOURCE_MARKER = re.compile(r"\[(\d{1,4}|citation needed|note \d{1,3}|[a-z]|nb \d{1,3})\]", re.IGNORECASE)
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d{1,4}\])+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W\d_]+)?")
# a letter outside Latin: the text gets its language's analysis (citewise.language + the BM25 analysis)
_NON_LATIN = re.compile(r"[^\W\d_A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

_STOPWORDS = """
a an and are as at be been being but by can could did do does for from had has have he her his how i if in into
is it its of on or our she so than that the their them then there these they this those to was we were what when
where which while who whom whose why will with would you your not no yes also any all some such about after
before between during over under more most other only own same very just may might must shall should s t d ll re
ve m one
"""
STOPWORDS = frozenset(_STOPWORDS.split())
# languages whose text is scored with the English analysis above (``und``: not determined)
ENGLISH_ANALYSIS = frozenset({"en", UNDETERMINED, ""})
# question and function words of languages Qdrant has no stop-word list for (BM25 keeps them; scoring drops them)
_EXTRA_STOPWORDS = {
    "hi": """क्या कौन कौनसा कौनसी किस किसे किसको किसने किसका किसकी किसके कब कहाँ कहां कितना कितने कितनी कैसे क्यों
    है हैं था थे थी हो होता होती होते गया गई गए किया की का के को में से ने पर और एक यह वह ये वे इस उस इसे उसे
    इन उन लिए तक भी कर करने द्वारा तो ही या जो जिस जिसे जिसने साथ बाद""",
    "vi": """là của và các những có được trong cho với một này đó gì nào ai bao nhiêu khi đâu không đã để từ về
    như theo tại thì mà ở bị sẽ cũng rằng nào""",
    # question words and copulas Qdrant's (Snowball) lists lack
    "ru": """какое какие каком какую каких какому каким какими кого кому кем чему сколько откуда почему который
    которая которое которые которых является являются называется""",
    "ar": """لماذا أية أيّ كانت يكون تم عدد اسم""",
}
_PORTER = Stemmer.Stemmer("porter")  # PyStemmer (C): importing nltk for its stemmer cost ask 1.2 s


def split_answer(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    """Answer text → [(sentence, cited numbers)]; markers right after a sentence end belong to that sentence."""
    raw = [s.text for s in sentence_spans(answer)]
    merged: list[str] = []
    for sentence in raw:
        lead = _LEADING_MARKERS.match(sentence)
        if lead and merged:
            merged[-1] = merged[-1] + " " + lead.group(0).strip()
            sentence = sentence[lead.end() :].strip()
        if sentence:
            merged.append(sentence)
    return [(s, tuple(dict.fromkeys(int(n) for n in MARKER.findall(s)))) for s in merged]


def strip_markers(text: str) -> str:
    """The sentence without its ``[n]`` markers (for scoring)."""
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s+", " ", MARKER.sub(" ", text))).strip()


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """Porter stem (Snowball's Porter, PyStemmer): 'cities' → 'citi', 'named' → 'name'."""
    return str(_PORTER.stemWord(word))


def terms(text: str, lang: str | None = None) -> list[str]:
    """Lowercased, stemmed content words (stopwords dropped). Text in language ``lang`` (not English) is analysed
    like BM25 analyses that language (Snowball stemmer, stop words, Chinese word segmentation): its terms are
    hashed ids. Without ``lang``, text in a non-Latin script gets its own detected language's analysis and
    Latin text the English one."""
    if lang is not None and lang not in ENGLISH_ANALYSIS:
        return list(_analysed_terms(text, lang))
    if _NON_LATIN.search(text):
        return list(_analysed_terms(text, detect(text).lang))
    out = []
    for raw in _WORD.findall(text.lower()):
        word = raw.replace("’", "'").split("'")[0]
        if word and word not in STOPWORDS:
            out.append(stem(word))
    return out


def scoring_language(question: str, passages: Iterable[str] = ()) -> str:
    """The language a question and its candidate sentences are compared in: the question's, or the passages'
    dominant one when the question is too short or unclear to tell (``und``: English analysis)."""
    return detect(question, fallback=dominant(detect(p).lang for p in passages)).lang


@lru_cache(maxsize=100_000)
def _analysed_terms(text: str, lang: str) -> tuple[str, ...]:
    skip = _extra_stopwords(lang)
    fold = _FOLDS.get(lang)
    return tuple(f"#{i}" for i in _bm25().term_ids(fold(text) if fold else text, lang) if i not in skip)


# Arabic, before its analysis (scoring only: the index's BM25 terms stay Qdrant's own): short vowels, shadda and
# tatweel dropped, hamza-carrying alefs and alef maqsura written plain, and the proclitics (و, then بال كال فال لل
# ال) split off as light stemmers do; Snowball's Arabic stemmer keeps them on short words ("الفريق" ≠ "فريق")
_AR_MARKS = re.compile("[\u064b-\u0652\u0640\u0670]")
_AR_LETTERS = str.maketrans("أإآٱى", "ااااي")
_AR_WORD = re.compile("[\u0621-\u064a]+")
_AR_PROCLITICS = ("وال", "بال", "كال", "فال", "لل", "ال")


def _fold_arabic(text: str) -> str:
    return _AR_WORD.sub(_strip_proclitics, _AR_MARKS.sub("", text).translate(_AR_LETTERS))


def _strip_proclitics(match: re.Match[str]) -> str:
    word = match.group(0)
    if len(word) > 3 and word[0] == "و":
        word = word[1:]
    for prefix in _AR_PROCLITICS:
        if word.startswith(prefix) and len(word) - len(prefix) >= 2:
            return word[len(prefix) :]
    return word


_FOLDS = {"ar": _fold_arabic}  # language -> its text folded before the terms are taken


@lru_cache(maxsize=64)
def _extra_stopwords(lang: str) -> frozenset[int]:
    """Ids of the extra stop words that stay one term (a word the tokenizer splits, as Hindi at a virama, would
    drop pieces of other words too)."""
    fold = _FOLDS.get(lang) or str
    ids = (_bm25().term_ids(fold(word), lang) for word in _EXTRA_STOPWORDS.get(lang, "").split())
    return frozenset(i[0] for i in ids if len(i) == 1)


@lru_cache(maxsize=1)
def _bm25() -> Bm25Encoder:
    return Bm25Encoder()


def char_grams(text: str, lang: str) -> set[str]:
    """Character n-grams inside words (trigrams; bigrams for languages written without spaces): they match a
    word's forms that analysis keeps apart (Arabic clitics, Hindi split at a virama, a Chinese segmentation)."""
    n = 2 if lang in _UNSPACED else 3
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in folded).split()
    return {w[i : i + n] for w in words for i in range(max(1, len(w) - n + 1))}


# questions that ask for a number or a date, in the languages the encoder may not know (English has its own
# question types in generation.gate_features)
_ASKS_NUMBER = re.compile(
    r"何时|什么时候|哪一年|哪年|多少|几|متى|كم|في أي (?:عام|سنة)|कब|कितन|किस (?:वर्ष|साल)|когда|сколько|в каком году"
    r"|\b(?:wann|wie viele?|in welchem jahr|cuándo|cuánt[oa]s?|en qué año|când|câte|câți|în ce an|ne zaman|kaç"
    r"|hangi yıl|khi nào|năm nào|bao giờ|bao nhiêu)\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")


def asks_for_number(question: str) -> bool:
    """Whether ``question`` asks when, how many or how much (zh, ar, hi, ru, de, es, ro, tr, vi)."""
    return bool(_ASKS_NUMBER.search(question))


def new_number(sentence: str, question: str) -> bool:
    """Whether ``sentence`` holds a number the question does not."""
    return bool(numbers(sentence) - numbers(question)) and bool(_DIGIT.search(sentence))


def numbers(text: str) -> set[str]:
    """Numbers written in ``text`` (thousand separators removed), for the invented-number check."""
    return {n.replace(",", "") for n in _NUMBER.findall(MARKER.sub(" ", text))}


_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][\w'’-]*[a-z][\w'’-]*")
_WORD = re.compile(r"[\w'’-]+")


def names(text: str) -> set[str]:
    """Capitalised words inside ``text`` (not a sentence's first word), lower-cased: names, for the
    invented-name check. Scripts without case have none."""
    clean = MARKER.sub(" ", text).strip()
    return {m.group(0).lower() for m in _NAME.finditer(clean)}


def invented_names(claim: str, passage: str) -> set[str]:
    """Names in ``claim`` that ``passage`` never writes (any case)."""
    return names(claim) - {w.lower() for w in _WORD.findall(passage)}


def coverage(needle: str, haystack: str, lang: str | None = None) -> float:
    """Share of ``needle``'s distinct content terms that occur in ``haystack`` (1.0 when it has none)."""
    wanted = set(terms(needle, lang))
    if not wanted:
        return 1.0
    return len(wanted & set(terms(haystack, lang))) / len(wanted)
