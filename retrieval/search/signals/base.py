"""The one interface every search signal implements, the candidates it scores, and the registry of signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from retrieval.errors import UnknownBackend
from retrieval.index import Index
from retrieval.understand.query import Query

UNKNOWN_DAY = -1  # an undated article's day in ``Candidates.days``

# how the fusion (retrieval/search/fusion.py) uses a signal's scores
MIX = "mix"  # normalised over the candidates (min-max or ranks) and added with its weight: the relevance score
LIFT = "lift"  # 0..1 per candidate, added as weight x the candidates' score range after the mix (dates)
FIRST = "first"  # True per candidate: those come first among the passages kept, in their order (the conversation)
KINDS = (MIX, LIFT, FIRST)


@dataclass
class Candidates:
    """The chunks a search scores and what the signals read about them (all read-only but ``fused`` and ``span``,
    which the fusion sets before it asks a LIFT signal)."""

    index: Index
    ids: np.ndarray  # chunk ids, ascending
    terms: list[str] | None  # the analysed question terms (None: the mode does not search words)
    query_vector: np.ndarray | None  # None: the mode does not search vectors
    days: np.ndarray  # per chunk of the index, its article's date ordinal (UNKNOWN_DAY when undated)
    period: np.ndarray | None  # per chunk of the index, whether it is in the question's period (None: no period)
    fused: np.ndarray | None = None  # the fused score so far (LIFT signals)
    span: float = 1.0  # the candidates' fused score range before any lift (LIFT signals)


def minmax(values: np.ndarray) -> np.ndarray:
    """``values`` scaled to 0..1 over the candidates (all 1 when equal and positive, all 0 when equal otherwise)."""
    if len(values) == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        return np.zeros_like(values) if hi <= 0 else np.ones_like(values)
    return (values - lo) / (hi - lo)


SIGNALS: dict[str, type[Signal]] = {}


class Signal:
    """A named score over the search's candidates. A subclass names itself (``name``), says how it is fused
    (``kind``) and scores; defining it in a file of retrieval/search/signals/ registers it, and its weight is
    the setting ``<name>_weight`` (``weight`` says otherwise)."""

    name: ClassVar[str]
    kind: ClassVar[str] = MIX

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind not in KINDS:
            raise ValueError(f"Signal {cls.__name__}: kind must be one of {', '.join(KINDS)}, not {cls.kind!r}.")
        SIGNALS[cls.name] = cls

    @classmethod
    def weight(cls, settings: Any) -> float:
        """The signal's weight in ``settings`` (0 turns it off)."""
        return float(getattr(settings.search, f"{cls.name}_weight"))

    def score(self, query: Query, candidates: Candidates) -> np.ndarray | None:
        """One value per candidate (in ``candidates.ids`` order), or None when the signal has nothing to say
        about this question (no period, no sentence vectors...)."""
        raise NotImplementedError


def signal(name: str) -> type[Signal]:
    """The signal class registered as ``name``; UnknownBackend lists the choices."""
    try:
        return SIGNALS[name]
    except KeyError:
        raise UnknownBackend(f"Unknown search signal {name!r}; choose one of: {', '.join(SIGNALS)} "
                             "(each is a file of retrieval/search/signals/).") from None


def weights_from(settings: Any) -> dict[str, float]:
    """Every registered signal's weight, read from ``settings``."""
    return {name: cls.weight(settings) for name, cls in SIGNALS.items()}
