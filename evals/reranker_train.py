"""Train a cross-encoder reranker on (query, positive, hard negatives) groups, starting from a bi-encoder's weights.

The model is a sentence-transformers ``CrossEncoder`` built from ``base_model`` (the packaged MiniLM by default):
its transformer reads the (query, passage) pair, the pair's token embeddings are mean-pooled as the bi-encoder
was trained to pool them, and a new linear head (one score, ``num_labels`` 1) scores the pooled vector. A
``[CLS]`` head (``AutoModelForSequenceClassification``) learned nothing here in 43 steps: MiniLM's ``[CLS]``
token was never trained to carry meaning, its mean-pooled tokens were. The head learns ``HEAD_LR_FACTOR`` times
faster than the transformer. The loss is listwise: each query's positive must out-score its hard negatives
(softmax cross-entropy over the group), which teaches ranking from far fewer pairs than a pointwise loss.
CPU-bound on purpose: short inputs (``max_seq_length``), the lower ``freeze_layers`` transformer layers (and the
embeddings) frozen, one epoch by default, a time budget that keeps the model trained so far, and ``mini_batch``
queries per forward/backward pass (gradient accumulation) to bound memory. The loop, options and report are those
of ``evals.encoder_train``. The saved folder loads with ``CrossEncoder(path)`` (what search uses).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.encoders import resolve_model_path, resolve_threads
from citewise.errors import InvalidRequest
from evals.encoder_pairs import TrainingPair
from evals.encoder_train import StepLoop, StepProgress, TrainOptions, TrainReport

HEAD_LR_FACTOR = 20  # the new head starts from random weights


@dataclass(frozen=True)
class Group:
    """One query, its positive passage and its hard negatives (the positive first)."""

    query: str
    positive: str
    negatives: tuple[str, ...]


def groups_of(pairs: Sequence[TrainingPair]) -> list[Group]:
    """(query, positive) groups with their negatives, in first-seen order; groups without a negative are dropped."""
    found: dict[tuple[str, str], list[str]] = {}
    for p in pairs:
        negatives = found.setdefault((p.query, p.positive), [])
        if p.negative and p.negative != p.positive and p.negative not in negatives:
            negatives.append(p.negative)
    return [Group(q, pos, tuple(negs)) for (q, pos), negs in found.items() if negs]


def train_listwise(
    base_model: str,
    groups: Sequence[Group],
    out_dir: Path,
    options: TrainOptions,
    freeze_layers: int = 4,
    progress: StepProgress | None = None,
) -> TrainReport:
    """Train a cross-encoder from ``base_model`` on ``groups``; save it to ``out_dir`` (a CrossEncoder folder)."""
    if not groups:
        raise InvalidRequest(
            "no training groups: every judged query needs a positive and at least one hard negative from the "
            "collection's hybrid search; ingest the judged corpus into the collection (or pass more queries)"
        )
    import torch

    torch.manual_seed(options.seed)
    torch.set_num_threads(resolve_threads(options.threads))
    model = build_cross_encoder(base_model, options.max_seq_length)
    _freeze(model.model, freeze_layers)
    head = list(model[-1].parameters())
    body = [p for p in model.model.parameters() if p.requires_grad]
    trainable = body + head
    groups_lr: list[dict[str, Any]] = [
        {"params": body},
        {"params": head, "lr": options.learning_rate * HEAD_LR_FACTOR},
    ]
    optimizer = torch.optim.AdamW(groups_lr, lr=options.learning_rate)
    planned = math.ceil(len(groups) / options.batch_size) * options.epochs
    loop = StepLoop(optimizer, trainable, planned, options, progress)
    rng = random.Random(options.seed)
    chunk = options.mini_batch or options.batch_size
    model.train()
    for _ in range(options.epochs):
        order = list(range(len(groups)))
        rng.shuffle(order)
        for start in range(0, len(order), options.batch_size):
            batch = [groups[i] for i in order[start : start + options.batch_size]]
            total = 0.0
            for part in range(0, len(batch), chunk):
                piece = batch[part : part + chunk]
                loss = _loss(model, piece) * (len(piece) / len(batch))
                loss.backward()
                total += float(loss.detach())
            if loop.step(total):
                break
        if loop.stopped:
            break
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return loop.report(sum(1 + len(g.negatives) for g in groups), len(groups))


def build_cross_encoder(base_model: str, max_length: int) -> Any:
    """A ``CrossEncoder``: ``base_model``'s transformer over the pair, mean pooling, a new one-score linear head."""
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(resolve_model_path(base_model), max_seq_length=max_length)
    width = int(transformer.get_embedding_dimension())
    pooling = Pooling(width, "mean")
    head = Dense(width, 1, activation_function=None, module_output_name="scores")
    return CrossEncoder(modules=[transformer, pooling, head], device="cpu")


def _freeze(model: Any, layers: int) -> None:
    """Freeze the embeddings and the lowest ``layers`` transformer layers of ``model`` (a Hugging Face model)."""
    encoder = getattr(model, model.base_model_prefix, model)
    blocks = list(getattr(getattr(encoder, "encoder", None), "layer", []) or [])
    if layers < 0 or layers > len(blocks):
        raise InvalidRequest(f"--freeze-layers {layers}: the model has {len(blocks)} layers; use 0..{len(blocks)}")
    if layers and encoder is not None:
        for module in [encoder.embeddings, *blocks[:layers]]:
            for param in module.parameters():
                param.requires_grad = False


def _loss(model: Any, groups: Sequence[Group]) -> Any:
    """Softmax cross-entropy of each group's positive against its negatives (groups padded with -inf)."""
    import torch

    pairs = [(g.query, text) for g in groups for text in (g.positive, *g.negatives)]
    scores = model(model.preprocess(pairs))["scores"].squeeze(-1)
    width = max(1 + len(g.negatives) for g in groups)
    rows, at = [], 0
    for g in groups:
        size = 1 + len(g.negatives)
        row = scores[at : at + size]
        at += size
        rows.append(torch.cat([row, row.new_full((width - size,), float("-inf"))]))
    logits = torch.stack(rows)
    return torch.nn.functional.cross_entropy(logits, torch.zeros(len(groups), dtype=torch.long))
