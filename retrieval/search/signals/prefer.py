"""Passages of the articles cited in the conversation's last answer come first among those kept."""

from __future__ import annotations

import numpy as np

from retrieval.search.signals.base import FIRST, Candidates, Signal
from retrieval.understand.query import Query


class Prefer(Signal):
    name = "prefer"
    kind = FIRST

    @classmethod
    def weight(cls, settings) -> float:
        return 1.0  # no setting: a follow-up is about what was just cited

    def score(self, query: Query, candidates: Candidates) -> np.ndarray | None:
        if not query.prefer:
            return None
        cited = set(query.prefer)
        documents, chunks = candidates.index.documents, candidates.index.chunks
        return np.array([documents[chunks[i, 0]].id in cited for i in candidates.ids], dtype=bool)
