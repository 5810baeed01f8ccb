"""What ``citewise tune encoder`` trains on and reports on: the signal's training queries, the held-out queries
(never trained on), their mapping from chunk sources to judged document ids, and nDCG@10 per mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import InvalidRequest
from citewise.types import DEFAULT_TENANT
from evals.beir import BeirDataset, load_beir
from evals.corpus import ingest_corpus, source_name
from evals.encoder_pairs import (
    TrainingPair,
    mine_pairs,
    split_ids,
    subset,
    synthetic_dataset,
    synthetic_pairs,
)
from evals.feedback_signal import feedback_signal
from evals.qa_retrieval import load_qa_retrieval
from evals.retrieval_eval import DEEP, evaluate_run
from evals.tuning import collect_lists, default_candidate, run_of

K = 10


@dataclass(frozen=True)
class TuneSets:
    train: BeirDataset
    train_to_doc: Callable[[str], str | None]
    doc_source: Callable[[str], str | None]
    eval: BeirDataset
    eval_to_doc: Callable[[str], str | None]
    train_note: str
    eval_note: str
    eval_spec: dict[str, Any]  # how to rebuild ``eval`` (a resumed re-encode reports on the same queries)
    collection_positives: dict[str, str] | None = None  # queries made from the collection (synthetic, feedback)

    def summary(self, collection: str) -> dict[str, Any]:
        """What a tune's report says of its signal: the collection, where training and held-out queries come from."""
        return {
            "collection": collection,
            "signal": self.train_note,
            "held_out": {"queries": len(self.eval.queries), "from": self.eval_note},
        }


def _corpus_maps(dataset: BeirDataset) -> tuple[Callable[[str], str | None], Callable[[str], str | None]]:
    """(chunk source -> corpus id, corpus id -> chunk source) for a corpus ingested by ``evals.corpus``."""
    to_doc = {source_name(dataset.name, d.doc_id): d.doc_id for d in dataset.corpus}
    to_source = {d: s for s, d in to_doc.items()}
    return to_doc.get, to_source.get


def _need_queries(dataset: BeirDataset, what: str) -> BeirDataset:
    if not dataset.queries:
        raise InvalidRequest(f"{what} has no judged queries: choose a split with relevance judgments")
    return dataset


def _ensure_collection(cfg: Any, index: Any, dataset: BeirDataset | None) -> None:
    """Ingest a judged set's corpus into a collection that does not exist yet; refuse an unknown collection."""
    if index.spec() is not None:
        return
    if dataset is None or not dataset.corpus:
        raise InvalidRequest(
            f"collection {index.collection!r} does not exist: ingest documents into it first "
            "(`citewise ingest PATH` with CITEWISE_QDRANT__COLLECTION), or pass --beir DIR to ingest a BEIR corpus"
        )
    from citewise.encoders import Bm25Encoder, load_dense_encoder

    dense = load_dense_encoder(cfg.encoder, cfg.data_dir, index.collection)
    ingest_corpus(cfg, dataset.name, dataset.corpus, index, dense, Bm25Encoder())


@dataclass(frozen=True)
class SignalSource:
    """Where one tune's training signal and held-out queries come from (``citewise tune encoder`` options)."""

    beir: Path | None = None  # a BEIR folder: its qrels train (``split``) and report (``eval_split``)
    split: str = "train"
    eval_split: str = "test"
    qa: Path | None = None  # a SQuAD-style file: dev articles train, test articles report
    synthetic: bool = False  # titles as queries of their own documents (``beir`` only for the report)
    feedback: Path | None = None  # exported feedback (evals/feedback_signal.py): a fifth held out
    articles: tuple[int, ...] = ()  # with ``qa``: train on these articles and report on ``eval_articles``
    eval_articles: tuple[int, ...] = ()

    def check(self) -> None:
        """``InvalidRequest`` unless exactly one signal is given (``--beir`` may come with ``--synthetic``)."""
        given = [
            name
            for name, on in (
                ("--beir", self.beir is not None and not self.synthetic),
                ("--qa", self.qa is not None),
                ("--synthetic", self.synthetic),
                ("--feedback", self.feedback is not None),
            )
            if on
        ]
        if len(given) != 1:
            raise InvalidRequest(
                "pass exactly one signal: --beir DIR, --qa FILE, --feedback FILE (with --collection) or --synthetic "
                f"(with --collection){'; got ' + ' and '.join(given) if given else ''}"
            )


def build_sets(cfg: Any, index: Any, source: SignalSource) -> TuneSets:
    """The training signal and the held-out queries for one tune."""
    beir, split, eval_split, qa = source.beir, source.split, source.eval_split, source.qa
    if qa is not None:
        return _qa_sets(cfg, index, qa, source.articles, source.eval_articles)
    if source.synthetic:
        return _synthetic_sets(cfg, index, beir, eval_split)
    if source.feedback is not None:
        return _feedback_sets(cfg, index, source.feedback)
    assert beir is not None
    train = _need_queries(load_beir(beir, split), f"qrels/{split}.tsv")
    _ensure_collection(cfg, index, train)
    to_doc, to_source = _corpus_maps(train)
    if eval_split != split and (train.path / "qrels" / f"{eval_split}.tsv").is_file():
        held = _need_queries(load_beir(beir, eval_split), f"qrels/{eval_split}.tsv")
        train = subset(train, [q for q in train.queries if q not in held.queries], split)
        note = f"{train.name} {eval_split}"
    else:
        keep, out = split_ids(list(train.queries))
        held, train = subset(train, out, split), subset(train, keep, split)
        why = "--eval-split equals --split" if eval_split == split else f"no qrels/{eval_split}.tsv"
        note = f"a fifth of {train.name} {split} ({why})"
    spec = {"kind": "beir", "path": str(train.path), "split": held.split, "qids": list(held.queries)}
    return TuneSets(train, to_doc, to_source, held, to_doc, f"{train.name} {split}", note, spec)


def _qa_sets(cfg: Any, index: Any, qa: Path, articles: tuple[int, ...], eval_articles: tuple[int, ...]) -> TuneSets:
    """A SQuAD-style file: its dev (even) articles train and its test (odd) ones report, or the named articles."""
    if bool(articles) != bool(eval_articles) or set(articles) & set(eval_articles):
        raise InvalidRequest("--articles and --eval-articles go together and must not overlap, e.g. 0-5 and 6-7")
    if articles:
        named = ",".join(map(str, articles)), ",".join(map(str, eval_articles))
        train = _need_queries(load_qa_retrieval(qa, "articles", articles), f"{qa} (articles {named[0]})")
        held = _need_queries(load_qa_retrieval(qa, "articles", eval_articles), f"{qa} (articles {named[1]})")
        notes = f"{train.name} articles {named[0]}", f"its articles {named[1]}"
        where: dict[str, Any] = {"split": "articles", "articles": list(eval_articles)}
    else:
        train = _need_queries(load_qa_retrieval(qa, "dev"), f"{qa} (dev articles)")
        held = _need_queries(load_qa_retrieval(qa, "test"), f"{qa} (test articles)")
        notes, where = (f"{train.name} dev articles", "its test articles"), {"split": "test"}
    _ensure_collection(cfg, index, train)
    to_doc, to_source = _corpus_maps(train)
    spec = {"kind": "qa", "path": str(Path(qa).resolve()), **where, "qids": list(held.queries)}
    return TuneSets(train, to_doc, to_source, held, to_doc, notes[0], notes[1], spec)


def _synthetic_sets(cfg: Any, index: Any, beir: Path | None, eval_split: str) -> TuneSets:
    _ensure_collection(cfg, index, None)
    syn, positives = synthetic_dataset(index, f"synthetic:{index.collection}")
    note = f"synthetic queries from {index.collection}"
    if beir is not None:
        held = _need_queries(load_beir(beir, eval_split), f"qrels/{eval_split}.tsv")
        to_doc, _ = _corpus_maps(held)
        spec = {"kind": "beir", "path": str(held.path), "split": eval_split, "qids": list(held.queries)}
        return TuneSets(syn, _same, _none, held, to_doc, note, f"{held.name} {eval_split}", spec, positives)
    keep, out = split_ids(list(syn.queries))
    spec = {"kind": "synthetic", "qids": out}
    held = subset(syn, out, "held-out")
    train = subset(syn, keep, "synthetic")
    return TuneSets(train, _same, _none, held, _same, note, "a fifth of the synthetic queries", spec, positives)


def _feedback_sets(cfg: Any, index: Any, path: Path) -> TuneSets:
    _ensure_collection(cfg, index, None)
    signal = feedback_signal(index, path)
    keep, out = split_ids(list(signal.dataset.queries))
    spec = {"kind": "feedback", "path": str(signal.dataset.path), "qids": out}
    skipped = "".join(f", {n} left out: {reason}" for reason, n in signal.skipped.items())
    note = f"feedback {signal.dataset.path.name} ({len(signal.dataset.queries)} questions{skipped})"
    held, train = subset(signal.dataset, out, "held-out"), subset(signal.dataset, keep, "feedback")
    return TuneSets(train, _same, _none, held, _same, note, "a fifth of the feedback", spec, signal.positives)


def _same(source: str) -> str | None:
    return source


def _none(_: str) -> str | None:
    return None


def sets_from_spec(cfg: Any, index: Any, spec: dict[str, Any]) -> TuneSets:
    """The held-out queries recorded by ``build_sets`` (training fields are left empty)."""
    kind, qids = spec.get("kind"), list(spec.get("qids") or [])
    if kind in ("synthetic", "feedback"):
        made = (
            synthetic_dataset(index, f"synthetic:{index.collection}")[0]
            if kind == "synthetic"
            else feedback_signal(index, spec["path"]).dataset
        )
        held = subset(made, qids, "held-out")
        return TuneSets(held, _same, _none, held, _same, "", "", spec)
    if kind == "qa":
        loaded = load_qa_retrieval(spec["path"], spec.get("split", "test"), spec.get("articles", ()))
    else:
        loaded = load_beir(spec["path"], spec["split"])
    held = subset(loaded, qids, str(spec.get("split")))
    to_doc, to_source = _corpus_maps(loaded)
    return TuneSets(held, to_doc, to_source, held, to_doc, "", "", spec)


def access() -> Any:
    from retrieval import access_filter

    return access_filter(DEFAULT_TENANT)


def pairs_for(
    retriever: Any,
    sets: TuneSets,
    max_pairs: int | None,
    progress: Callable[[int, int], None] | None = None,
    negatives: int = 1,
) -> list[TrainingPair]:
    """Training triples of the signal (``negatives`` hard negatives per judged pair; synthetic queries get one)."""
    if sets.collection_positives is not None:
        return synthetic_pairs(retriever, sets.train, sets.collection_positives, access(), max_pairs, progress)
    train, to_doc, source = sets.train, sets.train_to_doc, sets.doc_source
    return mine_pairs(retriever, train, to_doc, source, access(), max_pairs, progress=progress, negatives=negatives)


def evaluate(
    retriever: Any,
    dataset: BeirDataset,
    to_doc: Callable[[str], str | None],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """nDCG@10 of the dense list alone and of the collection's hybrid fusion (its profile or the default)."""
    candidate = default_candidate(retriever.settings)
    lists = collect_lists(retriever, dataset, to_doc, access(), max(DEEP, candidate.prefetch), progress)
    out: dict[str, float] = {}
    for mode, what in (("dense", "dense"), ("hybrid", candidate)):
        metrics, _ = evaluate_run(dataset.qrels, run_of(lists, what), K)
        out[mode] = round(metrics[f"ndcg@{K}"], 4)
    return out


def make_retriever(cfg: Any, index: Any, dense: Any = None) -> Any:
    """A retriever on ``index`` without reranking: the collection's encoder (or ``dense``), guard checked."""
    from citewise.encoders import Bm25Encoder, check_collection_encoder, encoder_languages, load_dense_encoder
    from retrieval import Retriever
    from retrieval.profile import effective_retrieval

    settings, origin = effective_retrieval(cfg, index.collection)
    if dense is None:
        dense = load_dense_encoder(cfg.encoder, cfg.data_dir, index.collection)
    check_collection_encoder(index.spec(), dense, index.collection)
    return Retriever(settings, index, dense, Bm25Encoder(), None, origin, encoder_languages(cfg.encoder))


def load_target_encoder(cfg: Any, pending: dict[str, Any]) -> Any:
    """The encoder an unfinished re-encode was started with."""
    from citewise.encoders import encoder_languages, load_dense_encoder

    update = {"model": pending["target_model"], "languages": encoder_languages(cfg.encoder)}
    return load_dense_encoder(cfg.encoder.model_copy(update=update), cfg.data_dir)


def model_id_now(prefix: str = "enc") -> str:
    """A new model folder's name: ``prefix`` and the UTC time (``enc-20261204-071500``)."""
    return f"{prefix}-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())
