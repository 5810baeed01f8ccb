"""Export a sentence-transformers model to ONNX from its local files, optionally int8-quantize it, cache it.

The exported graph takes ``input_ids``/``attention_mask`` (and ``token_type_ids`` where the model has them)
and returns ``sentence_embedding``: the model's pooling (mean, CLS or max) and L2 normalization run inside
the graph, exactly as the sentence-transformers modules do. Nothing is downloaded: the export needs torch
and transformers once per machine; the result lives in the machine's model cache (``citewise.model_cache``,
``CITEWISE_CACHE_DIR``) under ``onnx/<model-slug>/<backend>-<key>/``, the key a hash of the recipe and the
library versions, with an ``export.json`` that says what it was built from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citewise.errors import ModelUnavailable
from citewise.model_cache import build_once, cache_dir, is_current, library_versions

RECIPE = 1  # bump when the export or quantization recipe changes: cached exports are then rebuilt
OPSET = 17
MODEL_FILE = "model.onnx"
LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime")  # their versions key an export (model_cache)
_SMALL = 2_000_000  # files up to this size are hashed by content, larger ones (weights) by size and mtime
_UNSUPPORTED = "Set CITEWISE_ENCODER__BACKEND=torch to use this model."


@dataclass(frozen=True)
class StModel:
    """What the ONNX backend needs to know about a local sentence-transformers model folder."""

    path: Path
    pooling: str  # "mean", "cls" or "max"
    normalize: bool
    max_seq_length: int
    do_lower_case: bool

    @property
    def tokenizer_file(self) -> Path:
        return self.path / "tokenizer.json"


def read_st_model(path: Path, max_seq_length: int | None = None) -> StModel:
    """Read modules.json and the pooling config; only Transformer -> Pooling [-> Normalize] is supported."""
    try:
        modules = json.loads((path / "modules.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{path} is not a sentence-transformers model folder ({exc}). {_UNSUPPORTED}") from None
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelUnavailable(
            f"The ONNX backend supports Transformer, Pooling[, Normalize] models; {path} has {kinds}. " + _UNSUPPORTED
        )
    if modules[0].get("path", "") not in ("", "."):
        raise ModelUnavailable(
            f"The ONNX backend expects the transformer at the model's root in {path}. " + _UNSUPPORTED
        )
    pooling = _pooling_mode(json.loads((path / modules[1]["path"] / "config.json").read_text()))
    if not (path / "tokenizer.json").is_file():
        raise ModelUnavailable(f"{path} has no tokenizer.json (a fast tokenizer). " + _UNSUPPORTED)
    st_config: dict[str, Any] = {}
    if (path / "sentence_bert_config.json").is_file():
        st_config = json.loads((path / "sentence_bert_config.json").read_text())
    length = max_seq_length or st_config.get("max_seq_length") or _model_max_length(path)
    return StModel(path, pooling, kinds[-1] == "Normalize", int(length), bool(st_config.get("do_lower_case", False)))


def _pooling_mode(config: dict[str, Any]) -> str:
    if isinstance(config.get("pooling_mode"), str):
        modes = [config["pooling_mode"]]
    else:
        names = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}
        others = [k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in names]
        modes = [mode for key, mode in names.items() if config.get(key)] + others
    if len(modes) != 1 or modes[0] not in ("mean", "cls", "max"):
        raise ModelUnavailable(f"The ONNX backend supports mean, CLS or max pooling, not {modes}. " + _UNSUPPORTED)
    return str(modes[0])


def _model_max_length(path: Path) -> int:
    config = json.loads((path / "config.json").read_text())
    limit = int(config.get("max_position_embeddings", 512))
    tok_config = path / "tokenizer_config.json"
    if tok_config.is_file():
        declared = json.loads(tok_config.read_text()).get("model_max_length")
        if isinstance(declared, int) and declared > 0:
            limit = min(limit, declared)
    return limit


def model_slug(model_id: str) -> str:
    """A folder name for a model id or path: readable, and unique through a short hash."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "--", model_id.strip("/"))[-60:].strip("-.") or "model"
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}"


def source_signature(path: Path) -> str:
    """Changes when the model folder's files change (content of small files, size and mtime of weights)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(str(file.relative_to(path)).encode())
        if stat.st_size <= _SMALL:
            digest.update(file.read_bytes())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def export_root(model_folder: Path, data_dir: Path) -> Path:
    """Where exports of the model in ``model_folder`` live: the machine's cache, or the data dir for its own models.

    A model inside the data dir (adapted by ``citewise tune encoder``) belongs to that data dir and is deleted with
    it, so its exports stay there too; every other model is exported once per machine (``citewise.model_cache``).
    """
    if model_folder.resolve().is_relative_to(Path(data_dir).resolve()):
        return Path(data_dir) / "models" / ".onnx"  # collection names (models/<collection>) never start with "."
    return cache_dir() / "onnx"


def artifact_key(backend: str) -> str:
    """The folder name of an export: the backend, and a hash of the recipe and the versions that build and run it."""
    blob = json.dumps({"recipe": RECIPE, "opset": OPSET, "versions": library_versions(*LIBRARIES)}, sort_keys=True)
    return f"{backend}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def cached_export(model: StModel, model_id: str, backend: str, root: Path) -> Path:
    """The ONNX file for ``backend`` ("onnx" or "onnx-int8") under ``root``, exported (or quantized) now if missing.

    Safe when several processes ask at once: one builds, the others wait and reuse it (``model_cache.build_once``).
    """
    wanted = {
        "recipe": RECIPE,
        "backend": backend,
        "model": model_id,
        "source": source_signature(model.path),
        "pooling": model.pooling,
        "normalize": model.normalize,
        "versions": library_versions(*LIBRARIES),
    }
    folder = root / model_slug(model_id) / artifact_key(backend)
    if backend == "onnx":
        build = lambda tmp: export_onnx(model, tmp / MODEL_FILE)  # noqa: E731
    elif backend == "onnx-int8":
        if is_current(folder, MODEL_FILE, wanted):
            return folder / MODEL_FILE
        fp32 = cached_export(model, model_id, "onnx", root)
        build = lambda tmp: quantize_int8(fp32, tmp / MODEL_FILE)  # noqa: E731
    else:
        raise ValueError(f"no ONNX export for backend {backend!r}")
    return build_once(folder, MODEL_FILE, wanted, build)


def export_onnx(model: StModel, dest: Path) -> dict[str, Any]:
    """torch.onnx.export of transformer + pooling + normalization, then ONNX Runtime's BERT graph fusions."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelUnavailable(f"Exporting to ONNX needs torch and transformers ({exc}). {_UNSUPPORTED}") from None
    hf = AutoModel.from_pretrained(str(model.path), attn_implementation="eager")
    hf.eval()
    names = ["input_ids", "attention_mask"]
    if int(getattr(hf.config, "type_vocab_size", 0) or 0) > 0:
        names.append("token_type_ids")
    wrapper = _pooled_module(hf, model.pooling, model.normalize, "token_type_ids" in names)
    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    raw = dest.with_suffix(".raw.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape arithmetic that is constant for this graph
        torch.onnx.export(
            wrapper,
            dummy,
            str(raw),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    fused = _fuse_bert(raw, dest, hf.config)
    raw.unlink(missing_ok=True)
    return {"inputs": names, "fused": fused, "torch": torch.__version__}


def _fuse_bert(src: Path, dest: Path, config: Any) -> bool:
    """ONNX Runtime's transformer fusions (attention, layer norm, GELU) for BERT-like models; else a copy."""
    if getattr(config, "model_type", "") not in ("bert", "roberta", "distilbert", "xlm-roberta", "mpnet"):
        shutil.copyfile(src, dest)
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(src),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=1,
    )
    optimized.save_model_to_file(str(dest))
    return True


def quantize_int8(src: Path, dest: Path) -> dict[str, Any]:
    """Dynamic int8 quantization: weights per channel, activations at run time.

    The attention output projections stay fp32: on SciFact that lifts the worst cosine to PyTorch from
    0.990 to 0.992 for almost no speed (they are the smallest matrices); see docs/encoders.md.
    """
    import onnx
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and "attention/output/dense" in n.name]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice about static quantization on the root logger
    try:
        quantize_dynamic(
            str(src),
            str(dest),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=False,
            nodes_to_exclude=keep,
            # the fused graph has contrib ops whose outputs shape inference cannot type: they are float
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    return {"quantization": "dynamic int8, per-channel weights", "fp32_nodes": keep}


def _pooled_module(hf: Any, pooling: str, normalize: bool, with_types: bool) -> Any:
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            kwargs = {"token_type_ids": token_type_ids} if with_types else {}
            tokens = self.hf(input_ids=input_ids, attention_mask=attention_mask, **kwargs)[0]
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            if pooling == "mean":
                emb = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            elif pooling == "cls":
                emb = tokens[:, 0]
            else:
                emb = tokens.masked_fill(mask == 0, -1e9).max(1).values
            return torch.nn.functional.normalize(emb, p=2, dim=1) if normalize else emb

    return Pooled()
