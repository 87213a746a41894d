""""Latest" questions: newer articles rise among the candidates near the best; decision 015 and
bench/eval_dated.py."""

from __future__ import annotations

import numpy as np

from retrieval.search.signals.base import LIFT, UNKNOWN_DAY, Candidates, Signal, minmax
from retrieval.understand.query import Query

WINDOW = 0.5  # the share of the score range below the best within which candidates are made newer


class Recency(Signal):
    name = "recency"
    kind = LIFT

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window

    def score(self, query: Query, candidates: Candidates) -> np.ndarray | None:
        if not (query.dates and query.dates.recent):
            return None
        days = candidates.days[candidates.ids].astype(np.float64)
        fused = candidates.fused
        # only the candidates near the best are made newer: an old, on-topic article should not
        # lose to a new one about something else
        known = (days != UNKNOWN_DAY) & (fused >= fused.max() - self.window * candidates.span)
        if not known.any():
            return None
        newness = np.zeros(len(candidates.ids))
        newness[known] = minmax(days[known])
        return newness
