"""Fine-tune a sentence-transformers bi-encoder on (query, positive, hard negative) triples.

The loss is sentence-transformers' ``MultipleNegativesRankingLoss``: each query must score its positive above
every other passage of the batch (the other positives and all hard negatives). The loop is our own, so it can
stop cleanly at a time budget (the model trained so far is kept), report progress per step and bound memory
(batch size, token length; ``mini_batch`` switches to the GradCache variant, ``CachedMultipleNegativesRankingLoss``,
which keeps the batch's negatives but holds activations for only ``mini_batch`` texts at a time).
Pairs are shuffled with a fixed seed: the same input trains the same model.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.encoders import resolve_model_path, resolve_threads
from citewise.errors import InvalidRequest
from evals.encoder_pairs import TrainingPair

StepProgress = Callable[[int, int, float], None]  # (step, planned steps, loss)


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 1
    batch_size: int = 32
    max_seq_length: int = 256
    learning_rate: float = 2e-5
    warmup: float = 0.1  # share of the steps with a linear learning-rate warm-up
    max_seconds: float | None = None
    mini_batch: int = 0  # >0: GradCache (CachedMNRL) in mini-batches of this size: memory bounded by it
    threads: int = 0
    seed: int = 13

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InvalidRequest(f"--epochs {self.epochs}: train at least 1 epoch")
        if self.batch_size < 2:
            raise InvalidRequest(f"--batch-size {self.batch_size}: in-batch negatives need at least 2")
        if self.mini_batch < 0:
            raise InvalidRequest(f"--mini-batch {self.mini_batch}: 0 (off) or a positive size")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise InvalidRequest("--max-minutes must be > 0")


@dataclass(frozen=True)
class TrainReport:
    pairs: int
    with_negative: int
    steps: int
    planned_steps: int
    seconds: float
    stopped: str | None  # why training ended before the planned steps (None: it did not)
    first_loss: float
    last_loss: float

    def as_json(self) -> dict[str, object]:
        return {
            "pairs": self.pairs,
            "with_negative": self.with_negative,
            "steps": self.steps,
            "planned_steps": self.planned_steps,
            "seconds": round(self.seconds, 1),
            "stopped": self.stopped,
            "first_loss": round(self.first_loss, 4),
            "last_loss": round(self.last_loss, 4),
        }


def train_mnrl(
    base_model: str,
    pairs: Sequence[TrainingPair],
    out_dir: Path,
    options: TrainOptions,
    progress: StepProgress | None = None,
) -> TrainReport:
    """Train ``base_model`` on ``pairs``; save the result to ``out_dir`` (a sentence-transformers folder)."""
    if len(pairs) < 2:
        raise InvalidRequest(f"{len(pairs)} training pair(s): at least 2 are needed (in-batch negatives)")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    torch.manual_seed(options.seed)
    torch.set_num_threads(resolve_threads(options.threads))
    model = SentenceTransformer(resolve_model_path(base_model), device="cpu")
    model.max_seq_length = min(int(model.max_seq_length or options.max_seq_length), options.max_seq_length)
    loss_fn: Any = (
        CachedMultipleNegativesRankingLoss(model, mini_batch_size=options.mini_batch)
        if options.mini_batch
        else MultipleNegativesRankingLoss(model)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.learning_rate)
    per_epoch = math.ceil(len(pairs) / options.batch_size)
    planned = per_epoch * options.epochs
    warmup = max(1, int(planned * options.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (planned - s) / max(1, planned - warmup)))
    )
    rng = random.Random(options.seed)
    started, step, stopped = time.perf_counter(), 0, None
    first_loss = last_loss = math.nan
    model.train()
    for _ in range(options.epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for start in range(0, len(order), options.batch_size):
            batch = [pairs[i] for i in order[start : start + options.batch_size]]
            if len(batch) < 2:
                continue
            loss = _step(model, loss_fn, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            last_loss = float(loss.detach())
            first_loss = last_loss if step == 1 else first_loss
            if progress is not None:
                progress(step, planned, last_loss)
            if options.max_seconds is not None and time.perf_counter() - started >= options.max_seconds:
                stopped = f"time budget of {options.max_seconds / 60:.1f} min reached"
                break
        if stopped:
            break
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return TrainReport(
        pairs=len(pairs),
        with_negative=sum(1 for p in pairs if p.negative),
        steps=step,
        planned_steps=planned,
        seconds=time.perf_counter() - started,
        stopped=stopped if step < planned else None,
        first_loss=first_loss,
        last_loss=last_loss,
    )


def _step(model: object, loss_fn: object, batch: Sequence[TrainingPair]):  # type: ignore[no-untyped-def]
    """The MNRL loss of one batch: (queries, positives[, hard negatives when every pair has one])."""
    columns = [[p.query for p in batch], [p.positive for p in batch]]
    if all(p.negative for p in batch):
        columns.append([str(p.negative) for p in batch])
    features = [model.preprocess(col) for col in columns]  # type: ignore[attr-defined]
    return loss_fn(features, labels=None)  # type: ignore[operator]
