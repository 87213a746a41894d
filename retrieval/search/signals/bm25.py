"""BM25 over the question's analysed words (and its names' Arabic spellings); decision 001."""

from __future__ import annotations

import numpy as np

from retrieval.search.signals.base import Candidates, Signal
from retrieval.understand.query import Query


class Bm25(Signal):
    name = "bm25"

    @classmethod
    def weight(cls, settings) -> float:
        # the two text signals share one unit (decisions/001-hybrid-fusion.md): DENSE_WEIGHT sets both
        return 1.0 - settings.search.dense_weight

    def score(self, query: Query, candidates: Candidates) -> np.ndarray:
        if candidates.terms is None:
            return np.zeros(len(candidates.ids), np.float32)
        return candidates.index.backend.sparse_scores(candidates.terms, candidates.ids)
