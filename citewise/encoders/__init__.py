"""Dense and sparse text encoders, and the backend choice for the dense one.

Dense backends (``CITEWISE_ENCODER__BACKEND``): ``torch`` (sentence-transformers), ``onnx`` (ONNX Runtime,
fp32, exported locally), ``onnx-int8`` (the same, weights quantized to int8) and ``auto``: the fastest
quality-preserving backend on CPU, torch on a GPU. A collection records the backend its vectors came from,
and ``check_collection_encoder`` refuses to mix vectors from another model or backend into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from citewise.encoders.base import (
    BACKENDS,
    DenseEncoderProtocol,
    available_cores,
    fingerprint,
    length_sorted_batches,
    resolve_device,
    resolve_model_path,
    resolve_threads,
)
from citewise.encoders.onnx_backend import OnnxEncoder
from citewise.encoders.prompts import PROMPTS_KEY, Prompts
from citewise.encoders.sparse import Bm25Encoder, SparseEncoderProtocol
from citewise.encoders.torch_backend import SentenceTransformerEncoder
from citewise.errors import ConfigError, IndexSchemaMismatch
from citewise.index import CollectionSpec
from citewise.settings import EncoderSettings

# The languages a dense model was trained on ("*": multilingual); models not listed count as multilingual.
MODEL_LANGUAGES: dict[str, tuple[str, ...]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("en",),
    "sentence-transformers/all-MiniLM-L12-v2": ("en",),
    "sentence-transformers/all-mpnet-base-v2": ("en",),
    "BAAI/bge-small-en-v1.5": ("en",),
    "BAAI/bge-base-en-v1.5": ("en",),
    "intfloat/multilingual-e5-small": ("*",),
    "intfloat/multilingual-e5-base": ("*",),
    "BAAI/bge-m3": ("*",),
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": ("*",),
}


def encoder_languages(settings: EncoderSettings) -> tuple[str, ...]:
    """The languages the dense model declares: ``settings.languages``, else the registry, else ``("*",)``."""
    if settings.languages is not None:
        return tuple(lang.lower() for lang in settings.languages)
    name = settings.model.rstrip("/").split("/")[-1]
    for model, langs in MODEL_LANGUAGES.items():
        if settings.model == model or model.split("/")[-1] == name:
            return langs
    return ("*",)


CPU_DEFAULT_BACKEND = "onnx-int8"  # measured in benchmarks/encoders.py, see BENCHMARKS.md
BACKEND_KEY = "encoder_backend"  # CollectionSpec.extra key

__all__ = [
    "BACKENDS",
    "BACKEND_KEY",
    "CPU_DEFAULT_BACKEND",
    "MODEL_LANGUAGES",
    "Bm25Encoder",
    "DenseEncoderProtocol",
    "OnnxEncoder",
    "Prompts",
    "SentenceTransformerEncoder",
    "SparseEncoderProtocol",
    "available_cores",
    "check_collection_encoder",
    "collection_spec",
    "encoder_languages",
    "fingerprint",
    "length_sorted_batches",
    "load_dense_encoder",
    "resolve_backend",
    "resolve_device",
    "resolve_model_path",
    "resolve_threads",
]


def resolve_backend(settings: EncoderSettings) -> str:
    """The backend ``settings`` ask for; ``auto`` is torch on a GPU and ``CPU_DEFAULT_BACKEND`` on CPU."""
    if settings.backend != "auto":
        if settings.backend not in BACKENDS:
            raise ConfigError(f"CITEWISE_ENCODER__BACKEND={settings.backend!r} is invalid: expected auto, {BACKENDS}")
        return settings.backend
    return CPU_DEFAULT_BACKEND if resolve_device(settings.device) == "cpu" else "torch"


def load_dense_encoder(
    settings: EncoderSettings, data_dir: Path, collection: str | None = None
) -> SentenceTransformerEncoder | OnnxEncoder:
    """The dense encoder on the configured backend (ONNX exports: the machine's model cache, ``citewise.model_cache``).

    With ``collection``, the model adapted to it (``citewise tune encoder``) replaces the configured one
    unless ``CITEWISE_ENCODER__MODEL`` is set explicitly.
    """
    from citewise.encoders.adapted import encoder_settings_for

    settings = encoder_settings_for(settings, data_dir, collection)
    backend = resolve_backend(settings)
    if backend == "torch":
        return SentenceTransformerEncoder.from_settings(settings)
    return OnnxEncoder.from_settings(settings, data_dir, backend)


def collection_spec(encoder: Any) -> CollectionSpec:
    """The spec a collection is created with: vector size, model and the backend that computed the vectors."""
    return CollectionSpec(
        dense_size=int(encoder.dim),
        encoder=str(encoder.model_id),
        extra={BACKEND_KEY: str(getattr(encoder, "backend", "torch")), **_prompts_extra(encoder)},
    )


def _prompts_extra(encoder: Any) -> dict[str, str]:
    tag = getattr(encoder, "prompts", Prompts()).tag()
    return {PROMPTS_KEY: tag} if tag else {}


def check_collection_encoder(spec: CollectionSpec | None, encoder: Any, collection: str) -> None:
    """Raise ``IndexSchemaMismatch`` when ``collection`` holds vectors from another model or backend."""
    if spec is None:
        return
    from citewise.encoders.adapted import REENCODING_KEY

    if REENCODING_KEY in spec.extra:
        raise IndexSchemaMismatch(
            f"Collection {collection!r} is being re-encoded from {spec.encoder} to {spec.extra[REENCODING_KEY]}: "
            "its vectors are half converted and no query may use them. Run "
            f"`citewise tune encoder --collection {collection}` to finish the re-encode (it continues where it "
            "stopped)."
        )
    built_model, built_backend = spec.encoder, spec.extra.get(BACKEND_KEY, "unrecorded")
    model, backend = str(encoder.model_id), str(getattr(encoder, "backend", "torch"))
    built_prompts, prompts = spec.extra.get(PROMPTS_KEY, ""), _prompts_extra(encoder).get(PROMPTS_KEY, "")
    if (built_model, built_backend) == (model, backend) and built_prompts != prompts:
        raise IndexSchemaMismatch(
            f"Collection {collection!r} holds vectors of {fingerprint(model, backend)} made with other query/passage "
            f"prompts (recorded {built_prompts or 'none'}, here {prompts or 'none'}). Vectors made with different "
            "prompts must not mix: set CITEWISE_ENCODER__QUERY_PROMPT / __PASSAGE_PROMPT as when it was built, or "
            "re-ingest into a new collection (CITEWISE_QDRANT__COLLECTION=<new name>)."
        )
    if (built_model, built_backend) == (model, backend):
        return
    adapted = (
        " It was adapted by `citewise tune encoder`: leave CITEWISE_ENCODER__MODEL unset to use it, or run "
        f"`citewise tune encoder --collection {collection} --revert` to go back to the configured model."
        if Path(built_model).is_dir() and model != built_model
        else ""
    )
    raise IndexSchemaMismatch(
        f"Collection {collection!r} holds vectors from {fingerprint(built_model, built_backend)}, but the dense "
        f"encoder here is {fingerprint(model, backend)}. Vectors from different models or backends must not mix "
        "(int8 and fp32 embeddings differ slightly). Re-ingest into a new collection "
        "(CITEWISE_QDRANT__COLLECTION=<new name>) and keep that setting for searches once it is complete, or use the "
        f"collection's own encoder (CITEWISE_ENCODER__MODEL={built_model}, CITEWISE_ENCODER__BACKEND={built_backend})."
        + adapted
    )
