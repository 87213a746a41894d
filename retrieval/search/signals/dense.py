"""The question's vector against each chunk's (exact, for every candidate); decision 001."""

from __future__ import annotations

import numpy as np

from retrieval.search.signals.base import Candidates, Signal
from retrieval.understand.query import Query


class Dense(Signal):
    name = "dense"

    def score(self, query: Query, candidates: Candidates) -> np.ndarray:
        if candidates.query_vector is None:
            return np.zeros(len(candidates.ids), np.float32)
        # the local backend's vectors are memory-mapped: exact scores cost little
        return candidates.index.backend.vectors(candidates.ids) @ candidates.query_vector
