"""Helpers for the retrieval tests: a small real cross-encoder built here, and SciFact chunks in an index.

No pretrained cross-encoder can be downloaded here, so ``build_cross_encoder`` makes one from the packaged
all-MiniLM-L6-v2 weights (a BERT) with a fresh one-logit classification head, fits it for a few steps on
real SciFact train pairs (a relevant abstract → 1, a retrieved non-relevant one → 0) and saves it as a
sentence-transformers CrossEncoder folder, which the reranker then loads by path like any other model.
"""

from __future__ import annotations

import random
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
    out: Path, pairs: Sequence[tuple[str, str, float]], steps: int = 30, max_length: int = 128, seed: int = 0
) -> Path:
    """Fit a MiniLM-based CrossEncoder on ``(query, text, label)`` pairs and save it under ``out``."""
    import torch
    from sentence_transformers import CrossEncoder

    from citewise.encoders import resolve_model_path
    from citewise.settings import DEFAULT_DENSE_MODEL

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = CrossEncoder(resolve_model_path(DEFAULT_DENSE_MODEL), num_labels=1, max_length=max_length, device="cpu")
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    data = list(pairs)
    for _ in range(steps):
        batch = rng.sample(data, min(16, len(data)))
        features = model.preprocess([(q, t) for q, t, _ in batch])
        logits = model(features)["scores"].view(-1)
        loss = loss_fn(logits, torch.tensor([label for _, _, label in batch], dtype=torch.float32))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save(str(out))
    return out
