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


class StepLoop:
    """The optimizer loop both trainers share: linear warm-up then linear decay over ``planned`` steps, clipped
    gradients, the first and last loss, ``progress`` after each step and the time budget of ``options``."""

    def __init__(
        self, optimizer: Any, params: list[Any], planned: int, options: TrainOptions, progress: StepProgress | None
    ) -> None:
        import torch

        warmup = max(1, int(planned * options.warmup))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (planned - s) / max(1, planned - warmup)))
        )
        self.optimizer, self.params, self.planned = optimizer, params, planned
        self.max_seconds, self.progress = options.max_seconds, progress
        self.started, self.steps = time.perf_counter(), 0
        self.stopped: str | None = None
        self.first_loss = self.last_loss = math.nan

    def step(self, loss: float) -> bool:
        """One optimizer step after the batch's ``backward``; True when the time budget says stop."""
        import torch

        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1
        self.last_loss = loss
        if self.steps == 1:
            self.first_loss = loss
        if self.progress is not None:
            self.progress(self.steps, self.planned, loss)
        if self.max_seconds is not None and time.perf_counter() - self.started >= self.max_seconds:
            self.stopped = f"time budget of {self.max_seconds / 60:.1f} min reached"
        return self.stopped is not None

    def report(self, pairs: int, with_negative: int) -> TrainReport:
        return TrainReport(
            pairs=pairs,
            with_negative=with_negative,
            steps=self.steps,
            planned_steps=self.planned,
            seconds=time.perf_counter() - self.started,
            stopped=self.stopped if self.steps < self.planned else None,
            first_loss=self.first_loss,
            last_loss=self.last_loss,
        )


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
    loop = StepLoop(
        optimizer,
        list(model.parameters()),
        math.ceil(len(pairs) / options.batch_size) * options.epochs,
        options,
        progress,
    )
    rng = random.Random(options.seed)
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
            if loop.step(float(loss.detach())):
                break
        if loop.stopped:
            break
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return loop.report(len(pairs), sum(1 for p in pairs if p.negative))


def _step(model: object, loss_fn: object, batch: Sequence[TrainingPair]):  # type: ignore[no-untyped-def]
    """The MNRL loss of one batch: (queries, positives[, hard negatives when every pair has one])."""
    columns = [[p.query for p in batch], [p.positive for p in batch]]
    if all(p.negative for p in batch):
        columns.append([str(p.negative) for p in batch])
    features = [model.preprocess(col) for col in columns]  # type: ignore[attr-defined]
    return loss_fn(features, labels=None)  # type: ignore[operator]
