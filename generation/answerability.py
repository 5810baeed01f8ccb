"""The answerability reader: a cross-encoder that reads (question, sentence) and scores "this sentence answers it".

Trained by ``citewise tune gate --reader`` from MiniLM's weights (a new one-logit head) on the training articles'
answer sentences against hard negatives (unanswerable questions' best sentences, and the best sentence without
the gold answer of answerable ones). It is stored as a Hugging Face sequence-classification model under
``<data_dir>/models/answerability-reader`` (loadable by sentence-transformers' ``CrossEncoder`` too) and feeds
the evidence gate's question model one feature: the best reader probability over the top sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from citewise.errors import ConfigError

READER_DIR = Path("models") / "answerability-reader"
MAX_LENGTH = 128  # question + one sentence fit; longer inputs cost training time on a CPU for nothing
READ_TOP = 2  # sentences (best gate scores first) the reader reads per question


class AnswerabilityReader:
    """A one-logit sequence classifier loaded from a folder; ``probabilities`` scores (question, text) pairs."""

    def __init__(self, path: Path, max_length: int = MAX_LENGTH, batch_size: int = 32) -> None:
        self.path = Path(path)
        self.max_length = max_length
        self.batch_size = batch_size
        if not (self.path / "config.json").is_file():
            raise ConfigError(
                f"no answerability reader at {self.path} (config.json missing); re-create it with "
                "`citewise tune gate --squad DIR --reader` or train the gate without --reader"
            )
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(self.path))
            self.model: Any = AutoModelForSequenceClassification.from_pretrained(str(self.path))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"the answerability reader at {self.path} cannot be loaded ({type(exc).__name__}: {exc}); "
                "re-create it with `citewise tune gate --squad DIR --reader`"
            ) from None
        if self.model.config.num_labels != 1:
            raise ConfigError(
                f"the answerability reader at {self.path} has {self.model.config.num_labels} labels, want 1; "
                "re-create it with `citewise tune gate --squad DIR --reader`"
            )
        self.model.eval()
        self._torch = torch

    def probabilities(self, question: str, texts: Sequence[str]) -> list[float]:
        """P(text answers question) for each text; [] for no texts."""
        if not texts:
            return []
        out: list[float] = []
        with self._torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                part = list(texts[start : start + self.batch_size])
                batch = self.tokenizer(
                    [question] * len(part), part, truncation=True, max_length=self.max_length,
                    padding=True, return_tensors="pt",
                )  # fmt: skip
                logits = self.model(**batch).logits.view(-1).float().numpy()
                out.extend((1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))).tolist())
        return out
