"""Articles of the period the question names come first (a lift of the whole score range at weight 1);
decision 015 and bench/eval_dated.py."""

from __future__ import annotations

import numpy as np

from retrieval.search.signals.base import LIFT, Candidates, Signal
from retrieval.understand.query import Query


class Period(Signal):
    name = "period"
    kind = LIFT

    def score(self, query: Query, candidates: Candidates) -> np.ndarray | None:
        return None if candidates.period is None else candidates.period[candidates.ids]
