"""Helpers for the retrieval tests: a small real cross-encoder built here, and SciFact chunks in an index.

No pretrained cross-encoder can be downloaded here, so ``build_cross_encoder`` fits a tiny BERT with a one-logit
classification head for a few steps on real SciFact train pairs (a relevant abstract → 1, a retrieved
non-relevant one → 0) and saves it as a Hugging Face folder, which the reranker then loads by path like any other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citewise.index import IndexPoint
from citewise.types import Chunk


def scifact_chunk(doc: dict[str, str], tenant: str = "default") -> Chunk:
    text = f"{doc['title']} {doc['text']}".strip()
    return Chunk(doc_id=doc["_id"], chunk_index=0, text=text, source=f"scifact/{doc['_id']}.txt",
                 title=doc["title"], char_start=0, char_end=len(text), file_type="txt", tenant=tenant)  # fmt: skip


def points_for(chunks: Sequence[Chunk], dense: Any, sparse: Any) -> list[IndexPoint]:
    from ingest.steps import encode

    return encode(chunks, dense, sparse)


def build_cross_encoder(
    out: Path, pairs: Sequence[tuple[str, str, float]], steps: int = 20, max_length: int = 64, seed: int = 0
) -> Path:
    """Fit a tiny BERT cross-encoder (2 layers, width 64) on ``(query, text, label)`` pairs; save it under ``out``.

    It uses all-MiniLM-L6-v2's tokenizer and takes a few full-batch steps from a seeded random start: small
    enough to build in seconds on a CPU, real enough to be loaded and run by sentence-transformers'
    ``CrossEncoder`` like any hub model. Its scores are deterministic, not good: tests compare them with the
    model's own predictions, never with relevance.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from citewise.encoders import resolve_model_path
    from citewise.settings import DEFAULT_DENSE_MODEL

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains faster on one thread, and much faster on a busy machine
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(DEFAULT_DENSE_MODEL))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=1,
    )
    model = BertForSequenceClassification(config)
    batch = tokenizer(
        [q for q, _, _ in pairs],
        [t for _, t, _ in pairs],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    labels = torch.tensor([label for _, _, label in pairs], dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(steps):
        loss = loss_fn(model(**batch).logits.view(-1), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    torch.set_num_threads(threads)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out
