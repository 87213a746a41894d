"""One fusion over any number of named signals (retrieval/search/signals/), weighted from the config:
MIX signals normalised and added (weighted min-max, or weighted reciprocal ranks; decision 001), then
LIFT signals in units of the candidates' score range, then FIRST signals re-order the passages kept."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from retrieval.errors import UnknownBackend
from retrieval.search.signals.base import FIRST, LIFT, MIX, Candidates, Signal, minmax
from retrieval.understand.query import Query

RRF_K = 60


def ranks(values: np.ndarray) -> np.ndarray:
    """1 for the highest value, 2 for the next... (ties in candidate order)."""
    out = np.empty(len(values), dtype=np.float64)
    out[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return out


# a MIX signal's share of the relevance score, from its scores and its weight
METHODS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "weighted": lambda values, weight: weight * minmax(values),
    "rrf": lambda values, weight: weight / (RRF_K + ranks(values)),
}
FUSIONS = METHODS  # the FUSION setting's choices


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UnknownBackend(f"Unknown fusion {method!r}; choose one of: {', '.join(METHODS)}.")
    return method


def mix(scores: Mapping[str, np.ndarray], weights: Mapping[str, float], method: str, size: int) -> np.ndarray:
    """The relevance score of ``size`` candidates: each signal's normalised scores times its weight, added (in
    ``scores`` order)."""
    term = METHODS[check_method(method)]
    fused: np.ndarray | None = None
    for name, values in scores.items():
        part = term(np.asarray(values, dtype=np.float64), weights[name])
        fused = part if fused is None else fused + part
    return fused if fused is not None else np.zeros(size)


def lift(fused: np.ndarray, signals: Mapping[str, Signal], weights: Mapping[str, float], query: Query,
         candidates: Candidates) -> np.ndarray:
    """``fused`` plus each LIFT signal's 0..1 value times its weight times the candidates' score range (taken
    before any lift), so a weight means the same in every mode: 1.0 lifts a whole group above the rest."""
    span = float(fused.max() - fused.min()) if len(fused) else 0.0
    span = span if span > 1e-9 else 1.0
    for name, signal in signals.items():
        if signal.kind != LIFT or not weights.get(name):
            continue
        candidates.fused, candidates.span = fused, span
        values = signal.score(query, candidates)
        if values is not None:
            fused = fused + weights[name] * span * values
    return fused


def first(order: np.ndarray, signals: Mapping[str, Signal], weights: Mapping[str, float], query: Query,
          candidates: Candidates) -> np.ndarray:
    """``order`` (positions in ``candidates.ids``) with the candidates a FIRST signal marks moved ahead, stably."""
    for name, signal in signals.items():
        if signal.kind != FIRST or not weights.get(name):
            continue
        marked = signal.score(query, candidates)
        if marked is not None:
            order = order[np.argsort(~marked[order], kind="stable")]
    return order


def relevance_signals(signals: Mapping[str, Signal]) -> list[str]:
    return [name for name, signal in signals.items() if signal.kind == MIX]
