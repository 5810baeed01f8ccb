"""The ONNX Runtime backends ("onnx", "onnx-int8"): a locally exported model, length-sorted dynamic batches."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from citewise.cache import LruCache
from citewise.encoders.base import (
    encoder_options,
    fingerprint,
    length_sorted_batches,
    resolve_device,
    resolve_model_path,
    resolve_threads,
)
from citewise.encoders.onnx_export import StModel, cached_export, export_root, read_st_model
from citewise.encoders.prompts import read_config, resolve_prompts
from citewise.errors import ConfigError, ModelUnavailable
from citewise.settings import DEFAULT_DENSE_MODEL, EncoderSettings

CPU_BATCH_SIZE = 8  # texts per session run on CPU: 2x the texts/s of 64 here (BENCHMARKS.md, issue 19 ingest)
GPU_BATCH_SIZE = 64


class OnnxEncoder:
    """Dense encoder on ONNX Runtime; the same vectors as ``SentenceTransformerEncoder`` within float tolerance.

    Texts are tokenized once, sorted by token length and batched, each batch padded only to its own
    longest text; results are written back in input order. Pooling and normalization run in the graph.

    On CPU, passages run on ``threads`` sessions of one intra-op thread each ("lanes"), a batch per lane at a
    time, instead of one session whose every operator is split over ``threads`` threads: no barrier per
    operator, and small batches that stay in the CPU cache (BENCHMARKS.md, issue 19 ingest). Queries run on
    lane 0 (one thread: ``query_threads``), or on a session of their own when ``query_threads`` differs.
    """

    def __init__(
        self,
        model: str = DEFAULT_DENSE_MODEL,
        backend: str = "onnx",
        data_dir: Path = Path(".citewise"),
        device: str = "cpu",
        batch_size: int | None = None,
        max_seq_length: int | None = None,
        query_cache_size: int = 1024,
        threads: int = 0,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        query_threads: int = 1,
    ) -> None:
        if backend not in ("onnx", "onnx-int8"):
            raise ConfigError(f"CITEWISE_ENCODER__BACKEND={backend!r} is not an ONNX backend (onnx, onnx-int8).")
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_id = model
        self.backend = backend
        self.device = resolve_device(device)
        self.batch_size = batch_size or (CPU_BATCH_SIZE if self.device == "cpu" else GPU_BATCH_SIZE)
        self.threads = resolve_threads(threads)
        on_gpu = self.device.startswith("cuda")
        self.lanes = 1 if on_gpu else self.threads  # passage sessions run side by side
        lane_threads = self.threads if on_gpu else 1  # intra-op threads of each
        # 0: as the passage sessions; N: N intra-op threads, on lane 0 when that has as many, else its own session
        self.query_threads = resolve_threads(query_threads) if query_threads else lane_threads
        if on_gpu:
            self.query_threads = self.threads  # one session on a GPU: a second would hold a second copy there
        folder = _local_folder(model)
        info = read_st_model(folder, max_seq_length)
        self.prompts = resolve_prompts(model, read_config(folder), query_prompt, passage_prompt)
        self.max_seq_length = info.max_seq_length
        self._lower = info.do_lower_case
        self._tokenizer, self._counter, self._pad_id = _tokenizers(info)
        self.model_path = cached_export(info, model, backend, export_root(folder, Path(data_dir)))
        self._session = self._open_session(self.model_path, lane_threads)
        self._lane_sessions: list[Any] = [self._session]  # the others are opened by the first long encode
        self._query_session: Any = self._session if self.query_threads == lane_threads else None
        self._query_lock = threading.Lock()
        self._inputs = [i.name for i in self._session.get_inputs()]
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self._cache: LruCache[str, np.ndarray] = LruCache(query_cache_size)

    @classmethod
    def from_settings(cls, settings: EncoderSettings, data_dir: Path, backend: str) -> OnnxEncoder:
        return cls(
            backend=backend, data_dir=data_dir, query_threads=settings.query_threads, **encoder_options(settings)
        )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.model_id, self.backend)

    def _open_session(self, path: Path, threads: int) -> Any:
        import onnxruntime as ort

        options = session_options(threads)
        providers = ["CPUExecutionProvider"]
        if self.device.startswith("cuda"):
            if self.backend == "onnx-int8" or "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(
                    f"CITEWISE_ENCODER__BACKEND={self.backend} cannot run on {self.device} with the onnxruntime "
                    "installed here. Use CITEWISE_ENCODER__BACKEND=torch (or auto) on a GPU."
                )
            providers.insert(0, "CUDAExecutionProvider")
        elif self.device != "cpu":
            raise ConfigError(f"The ONNX backends run on cpu or cuda, not {self.device!r}; use backend torch.")
        try:
            return ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelUnavailable(
                f"Cannot load the exported model {path} ({exc}). Delete its folder to rebuild it."
            ) from None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages as an (n, dim) float32 array of unit vectors (after the passage prompt), in input order."""
        return self._encode(texts, self.prompts.passage)

    def _encode(self, texts: Sequence[str], prompt: str, session: Any = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        items = [(prompt + t).lower() if self._lower else prompt + t for t in texts]
        ids = [e.ids for e in self._tokenizer.encode_batch(items)]
        lengths = [len(i) for i in ids]
        out = np.empty((len(items), self.dim), dtype=np.float32)
        batches = length_sorted_batches(lengths, self.batch_size)
        if session is not None or self.lanes == 1 or len(batches) == 1:
            for batch in batches:
                out[batch] = self._run([ids[i] for i in batch], session or self._session)
            return out
        free: queue.Queue[Any] = queue.Queue()
        for lane in self.lane_sessions():
            free.put(lane)

        def run_on_a_free_lane(batch: np.ndarray) -> None:
            lane = free.get()  # as many workers as lanes: one is always free
            try:
                out[batch] = self._run([ids[i] for i in batch], lane)  # ONNX Runtime releases the GIL
            finally:
                free.put(lane)

        with ThreadPoolExecutor(self.lanes, thread_name_prefix="onnx-lane") as pool:
            list(pool.map(run_on_a_free_lane, batches))  # longest first: the lanes end close together
        return out

    def lane_sessions(self) -> list[Any]:
        """The passage sessions (``lanes`` of them), the ones after the first opened on first use."""
        if len(self._lane_sessions) < self.lanes:
            with self._query_lock:
                while len(self._lane_sessions) < self.lanes:
                    self._lane_sessions.append(self._open_session(self.model_path, 1))
        return self._lane_sessions

    def _run(self, rows: list[list[int]], session: Any) -> np.ndarray:
        width = max(len(r) for r in rows)
        input_ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for n, row in enumerate(rows):
            input_ids[n, : len(row)] = row
            mask[n, : len(row)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return np.asarray(session.run(None, {k: feeds[k] for k in self._inputs})[0], dtype=np.float32)

    def query_session(self) -> Any:
        """The session that encodes queries: lane 0 when it has ``query_threads`` intra-op threads (the default,
        one), else one of its own with ``query_threads``, opened on first use."""
        if self._query_session is None:
            with self._query_lock:
                if self._query_session is None:
                    self._query_session = self._open_session(self.model_path, self.query_threads)
        return self._query_session

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query (after the query prompt) on the query session, through an LRU cache."""
        return self._cache.get_or_make(text, lambda: self._encode([text], self.prompts.query, self.query_session())[0])

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text`` as a passage (its prompt and special tokens included)."""
        item = self.prompts.passage + text
        return len(self._counter.encode(item.lower() if self._lower else item).ids)


def session_options(threads: int) -> Any:
    """ONNX Runtime options of every session: ``threads`` intra-op threads, sequential, all graph optimizations,
    idle threads sleeping, and no memory arena."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # no memory arena: with it, one batch of long passages leaves ~1.1 GB reserved for the life of the
    # process (measured in BENCHMARKS.md, "30 MB .txt upload"); without it the peak is about half and freed.
    # For one query it made no measurable difference either way (BENCHMARKS.md, issue 19 query latency)
    options.enable_cpu_mem_arena = False
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle threads sleep instead of spinning, so they leave the cores to ingest's parser processes
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _local_folder(model: str) -> Path:
    """The model's local folder: a path, the packaged default, or the hub cache (downloading as the hub does)."""
    path = Path(resolve_model_path(model))
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model))
    except Exception as exc:  # hub errors, offline mode, bad names
        raise ModelUnavailable(
            f"Cannot load encoder model {model!r} ({type(exc).__name__}: {exc}). "
            "Set CITEWISE_ENCODER__MODEL to a local model folder or a hub name reachable from here."
        ) from None


def _tokenizers(info: StModel) -> tuple[Any, Any, int]:
    """(truncating tokenizer, counting tokenizer, pad id) from the model's tokenizer.json."""
    from tokenizers import Tokenizer

    encoder = Tokenizer.from_file(str(info.tokenizer_file))
    encoder.no_padding()
    encoder.enable_truncation(max_length=info.max_seq_length)
    counter = Tokenizer.from_file(str(info.tokenizer_file))
    counter.no_padding()
    counter.no_truncation()
    pad_token = "[PAD]"
    config = info.path / "tokenizer_config.json"
    if config.is_file():
        declared = json.loads(config.read_text()).get("pad_token") or pad_token
        pad_token = str(declared["content"] if isinstance(declared, dict) else declared)  # may be an AddedToken
    pad_id = encoder.token_to_id(pad_token)
    return encoder, counter, int(pad_id) if pad_id is not None else 0
