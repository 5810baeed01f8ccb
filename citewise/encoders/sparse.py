"""BM25 sparse vectors with the hashed term ids of Qdrant's ``Qdrant/bm25`` (IDF is applied by Qdrant).

Each text is analysed for its language with Qdrant's own BM25 analysis (``qdrant_edge.Bm25``, the same
``Bm25Config`` a Qdrant server takes): its Snowball stemmer and stop words where Qdrant has them, and for
languages written without spaces (Chinese, Japanese, Korean, Thai) its ``multilingual`` tokenizer, which
segments words (charabia: jieba's dictionary for Chinese). Other languages (Hindi, Vietnamese, ...) are split
into words without stemming. ``und`` (undetermined) and English get the English analysis the index always
used, so English vectors are unchanged. The vectors are computed here, once, and sent to either backend, so
the embedded and server indexes hold identical sparse vectors.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from citewise.types import SparseVector

DEFAULT_LANGUAGE = "en"
# ISO 639-1 -> the name of Qdrant's stop-word list (qdrant_edge.Language)
STOPWORDS = {
    "ar": "Arabic", "az": "Azerbaijani", "eu": "Basque", "bn": "Bengali", "ca": "Catalan", "zh": "Chinese",
    "da": "Danish", "nl": "Dutch", "en": "English", "fi": "Finnish", "fr": "French", "de": "German",
    "el": "Greek", "he": "Hebrew", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ne": "Nepali", "no": "Norwegian", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sl": "Slovene", "es": "Spanish", "sv": "Swedish", "tg": "Tajik", "tr": "Turkish",
}  # fmt: skip
# ISO 639-1 -> Qdrant's Snowball stemmer (qdrant_edge.SnowballLanguage)
STEMMERS = {
    "ar": "Arabic", "hy": "Armenian", "da": "Danish", "nl": "Dutch", "en": "English", "fi": "Finnish",
    "fr": "French", "de": "German", "el": "Greek", "hu": "Hungarian", "it": "Italian", "no": "Norwegian",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "es": "Spanish", "sv": "Swedish", "ta": "Tamil",
    "tr": "Turkish",
}  # fmt: skip
UNSPACED = frozenset({"zh", "ja", "ko", "th", "lo", "km", "my", "bo"})  # segmented by the multilingual tokenizer


class SparseEncoderProtocol(Protocol):
    """What ingest needs of a sparse encoder (``Bm25Encoder``): vectors per text in its language, a version."""

    @property
    def fingerprint(self) -> str: ...

    def encode(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[SparseVector]: ...


@dataclass(frozen=True)
class Analysis:
    """How one language's text becomes BM25 terms."""

    lang: str
    tokenizer: str  # "word" or "multilingual" (word segmentation)
    stemmer: str | None
    stopwords: str | None

    def describe(self) -> str:
        parts = [f"{self.tokenizer} tokenizer", f"{self.stemmer} stemmer" if self.stemmer else "no stemmer"]
        parts.append(f"{self.stopwords} stop words" if self.stopwords else "no stop words")
        return f"{self.lang}: " + ", ".join(parts)


def analysis_for(lang: str | None) -> Analysis:
    """The BM25 analysis of language ``lang`` (ISO 639-1; ``None``/``und``: English, as before)."""
    code = (lang or DEFAULT_LANGUAGE).lower()
    if code not in STOPWORDS and code not in STEMMERS and code not in UNSPACED and len(code) != 2:
        code = DEFAULT_LANGUAGE  # "und" and anything unrecognised
    tokenizer = "multilingual" if code in UNSPACED else "word"
    return Analysis(code, tokenizer, STEMMERS.get(code), STOPWORDS.get(code))


def _config(analysis: Analysis, k: float, b: float, avg_len: float) -> Any:
    import qdrant_edge as qe

    tokenizer = qe.TokenizerType.Multilingual if analysis.tokenizer == "multilingual" else qe.TokenizerType.Word
    stopwords = getattr(qe.Language, analysis.stopwords) if analysis.stopwords else qe.StopwordsSet(custom=set())
    stemmer = (
        qe.SnowballParams(getattr(qe.SnowballLanguage, analysis.stemmer)) if analysis.stemmer else qe.DisabledStemmer()
    )
    return qe.Bm25Config(k=k, b=b, avg_len=avg_len, tokenizer=tokenizer, stopwords=stopwords, stemmer=stemmer)


class Bm25Encoder:
    """BM25 sparse vectors with the hashed term ids of Qdrant's ``Qdrant/bm25``, analysed per language."""

    model_id = "qdrant-bm25"
    fingerprint = "qdrant-bm25/lang-1"  # the analysis version: ingest redoes documents written with another one

    def __init__(self, avg_len: float = 256.0, k: float = 1.2, b: float = 0.75) -> None:
        self._params = (k, b, avg_len)
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._model(DEFAULT_LANGUAGE)  # fail here, not on the first text, if qdrant-edge-py is missing

    def _model(self, lang: str | None) -> Any:
        analysis = analysis_for(lang)
        model = self._models.get(analysis.lang)
        if model is None:
            from qdrant_edge import Bm25

            k, b, avg_len = self._params
            model = Bm25(_config(analysis, k, b, avg_len))
            with self._lock:
                self._models.setdefault(analysis.lang, model)
        return model

    def encode(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[SparseVector]:
        """Document vectors; ``langs[i]`` is the language of ``texts[i]`` (default: English)."""
        if langs is not None and len(langs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(langs)} languages")
        chosen = langs if langs is not None else [None] * len(texts)
        return [self._convert(self._model(lang).embed_document(t)) for t, lang in zip(texts, chosen, strict=True)]

    def encode_query(self, text: str, lang: str | None = None) -> SparseVector:
        return self._convert(self._model(lang).embed_query(text))

    def term_ids(self, text: str, lang: str | None = None) -> tuple[int, ...]:
        """The distinct BM25 terms of ``text`` (hashed ids): what a query would match on."""
        return tuple(self._model(lang).embed_query(text).indices)

    @staticmethod
    def _convert(vec: object) -> SparseVector:
        return SparseVector(tuple(vec.indices), tuple(float(v) for v in vec.values))  # type: ignore[attr-defined]
