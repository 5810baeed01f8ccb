"""BEIR datasets: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` and ``qrels/<split>.tsv``.

Qrels files load with or without their ``query-id corpus-id score`` header line. Only judgments with a
positive score count as relevant; queries without one are not evaluated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from citewise.errors import InvalidRequest
from evals.jsonl import jsonl_objects

Qrels = dict[str, dict[str, int]]  # query id -> corpus id -> relevance


@dataclass(frozen=True)
class BeirDoc:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR folder, loaded: corpus (in file order), the queries that have judgments in ``split``, qrels."""

    name: str
    path: Path
    split: str
    corpus: tuple[BeirDoc, ...]
    queries: dict[str, str]
    qrels: Qrels

    def fingerprint(self) -> str:
        """sha256 over the corpus (ids, titles, texts in order): equal fingerprints mean an equal corpus."""
        digest = hashlib.sha256()
        for doc in self.corpus:
            for part in (doc.doc_id, doc.title, doc.text):
                digest.update(part.encode("utf-8"))
                digest.update(b"\x1f")
            digest.update(b"\x1e")
        return digest.hexdigest()


def load_beir(path: str | Path, split: str = "test") -> BeirDataset:
    """Load a BEIR folder; raise ``InvalidRequest`` naming the missing file or the bad line."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InvalidRequest(
            f"BEIR folder not found: {path}; pass a folder holding corpus.jsonl, queries.jsonl, qrels/"
        )
    qrels = load_qrels(_need(root / "qrels" / f"{split}.tsv", f"--split {split}"))
    corpus = tuple(iter_corpus(_need(root / "corpus.jsonl", "the corpus")))
    if not corpus:
        raise InvalidRequest(f"{root / 'corpus.jsonl'} holds no documents")
    all_queries = load_queries(_need(root / "queries.jsonl", "the queries"))
    missing = sorted(set(qrels) - set(all_queries))
    if missing:
        raise InvalidRequest(
            f"{len(missing)} query ids in qrels/{split}.tsv are not in queries.jsonl (e.g. {missing[0]!r}); "
            "the files do not belong together"
        )
    queries = {qid: all_queries[qid] for qid in sorted(qrels, key=_natural)}
    return BeirDataset(root.resolve().name, root.resolve(), split, corpus, queries, qrels)


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InvalidRequest(f"{what}: {path} does not exist; a BEIR folder has corpus.jsonl, queries.jsonl, qrels/")
    return path


def _natural(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    for number, row in jsonl_objects(path):
        if "_id" not in row:
            raise InvalidRequest(f'{path}:{number} has no "_id"; each line must be an object with _id')
        yield number, row


def iter_corpus(path: Path) -> Iterator[BeirDoc]:
    seen: set[str] = set()
    for number, row in _jsonl(path):
        doc_id = str(row["_id"])
        if doc_id in seen:
            raise InvalidRequest(f"{path}:{number} repeats document id {doc_id!r}; ids must be unique")
        seen.add(doc_id)
        yield BeirDoc(doc_id, str(row.get("title") or ""), str(row.get("text") or ""))


def load_queries(path: Path) -> dict[str, str]:
    return {str(row["_id"]): str(row.get("text") or "") for _, row in _jsonl(path)}


def load_qrels(path: Path) -> Qrels:
    """``query-id<TAB>corpus-id<TAB>score`` lines (a header line is skipped; TREC's 4 columns also load)."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 4:  # TREC qrels: qid iteration docid rel
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise InvalidRequest(f"{path}:{number} must have 3 columns: query-id corpus-id score")
            try:
                score = int(float(parts[2]))
            except ValueError:
                if number == 1:
                    continue  # the header line
                raise InvalidRequest(f"{path}:{number}: score {parts[2]!r} is not a number") from None
            if score > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = score
    if not qrels:
        raise InvalidRequest(f"{path} holds no positive judgments; nothing to evaluate")
    return qrels


def write_subset(
    source: str | Path, dest: str | Path, split: str = "test", n_queries: int = 50, n_distractors: int = 300
) -> Path:
    """A small, fixed BEIR folder from ``source``: ``n_queries`` judged queries, their relevant documents and
    ``n_distractors`` other documents. Queries and distractors are the first by sha256 of their id, so the
    subset is the same on every machine and never has to be committed."""
    full = load_beir(source, split)
    qids = sorted(full.qrels, key=_sha)[:n_queries]
    relevant = {d for q in qids for d in full.qrels[q]}
    others = sorted((d.doc_id for d in full.corpus if d.doc_id not in relevant), key=_sha)[:n_distractors]
    keep = relevant | set(others)
    out = Path(dest)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc in full.corpus:
            if doc.doc_id in keep:
                fh.write(json.dumps({"_id": doc.doc_id, "title": doc.title, "text": doc.text}) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid in qids:
            fh.write(json.dumps({"_id": qid, "text": full.queries[qid]}) + "\n")
    with (out / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid in qids:
            for doc_id, score in sorted(full.qrels[qid].items()):
                fh.write(f"{qid}\t{doc_id}\t{score}\n")
    return out


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
