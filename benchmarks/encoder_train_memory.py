"""Peak RSS and time of ``evals.encoder_train.train_mnrl`` with and without GradCache mini-batches.

64 SciFact (title, abstract, another abstract) triples, batch 32 (2 steps), the packaged MiniLM:

    PYTHONPATH=. python benchmarks/encoder_train_memory.py ../shared/datasets/scifact 0   # plain MNRL
    PYTHONPATH=. python benchmarks/encoder_train_memory.py ../shared/datasets/scifact 8   # --mini-batch 8

Run each in its own process: ``ru_maxrss`` is the process's peak.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

from evals.encoder_pairs import TrainingPair
from evals.encoder_train import TrainOptions, train_mnrl


def main(folder: str, mini_batch: int) -> None:
    with open(Path(folder) / "corpus.jsonl", encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(96), fh, strict=False)]
    pairs = [TrainingPair(d["title"], d["text"], docs[(i + 1) % 96]["text"]) for i, d in enumerate(docs[:64])]
    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions(batch_size=32, mini_batch=mini_batch)
        report = train_mnrl("sentence-transformers/all-MiniLM-L6-v2", pairs, Path(tmp) / "model", options)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out = {"mini_batch": mini_batch, "seconds": round(report.seconds, 1), "peak_rss_mb": peak_mb}
    print(json.dumps({**out, "loss": round(report.last_loss, 4)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
