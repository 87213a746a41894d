"""Search's glue: gathers the candidates (BM25 and dense, within the question's dates), asks the named signals
(retrieval/search/signals/) to score them, fuses them (retrieval/search/fusion.py) into ranked, cited Passages."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from datetime import date

import numpy as np

from retrieval.embedders import Embedder
from retrieval.errors import UnknownBackend
from retrieval.index import Index
from retrieval.models import Passage
from retrieval.search import fusion as fusion_module
from retrieval.search import signals
from retrieval.search.fusion import FUSIONS
from retrieval.search.signals import UNKNOWN_DAY
from retrieval.text.arabic import analyze
from retrieval.understand.query import DateBias, Query
from retrieval.understand.timeframe import TimeFrame, day_of

MODES = ("hybrid", "bm25", "dense")  # hybrid: every signal fused; bm25 or dense: that signal's raw score alone
RANKED = 10  # the ranking an answer carries for evaluation (recall@1..10)
REPORTED = ("bm25", "dense")  # the raw scores every passage carries (Passage.scores; the composer reads dense)
# a Retriever built without weights (tests, scripts): the two text signals evenly, the dates and the
# conversation on; the Pipeline's weights come from the settings (signals.weights_from)
__all__ = ["FUSIONS", "MODES", "RANKED", "UNKNOWN_DAY", "Retriever"]

BARE_WEIGHTS = {"bm25": 0.5, "dense": 0.5, "period": 1.0, "recency": 1.0, "prefer": 1.0}


class Retriever:
    """Finds the chunks that answer a question. Thread-safe (read-only state)."""

    def __init__(self, index: Index, embedder: Embedder, fusion: str = "weighted",
                 weights: Mapping[str, float] | None = None, candidates: int = 50, period_filter: bool = False) -> None:
        """``weights``: signal name -> weight (a signal without one, or at 0, is off; an unknown name raises
        UnknownBackend listing the signals)."""
        self.index = index
        self.embedder = embedder
        self.fusion = fusion_module.check_method(fusion)
        self.weights = dict(BARE_WEIGHTS if weights is None else weights)
        for name in self.weights:
            signals.signal(name)
        self.signals = {name: cls() for name, cls in signals.SIGNALS.items()}
        self.candidates = candidates
        self.period_filter = period_filter  # keep only the question's period (when it has articles) instead of lifting it

    @functools.cached_property
    def chunk_days(self) -> np.ndarray:
        """Per chunk, its article's date as ``date.toordinal()`` (UNKNOWN_DAY when undated)."""
        doc_days = np.array([(day.toordinal() if (day := day_of(d.date)) else UNKNOWN_DAY)
                             for d in self.index.documents] or [UNKNOWN_DAY], dtype=np.int64)
        return doc_days[self.index.chunks[:, 0]] if len(self.index.chunks) else np.zeros(0, np.int64)

    @functools.cached_property
    def newest_day(self) -> date | None:
        """The newest article's date (None when no article has one): the year of "في 6 مارس"."""
        known = self.chunk_days[self.chunk_days != UNKNOWN_DAY]
        return date.fromordinal(int(known.max())) if len(known) else None

    def has_articles_in(self, frame: TimeFrame) -> bool:
        """Whether any article was published in ``frame``."""
        return bool(self._in(frame).any())

    def _in(self, frame: TimeFrame) -> np.ndarray:
        lo, hi = frame.ordinals()
        days = self.chunk_days
        return (days != UNKNOWN_DAY) & (days >= lo) & (days <= hi)

    def search(self, query: Query | str, k: int = 5, mode: str = "hybrid", query_vector: np.ndarray | None = None,
               timings: dict[str, float] | None = None, prefer: list[str] | None = None,
               dates: DateBias | None = None, ranked: list[Passage] | None = None) -> list[Passage]:
        """The top ``k`` passages for ``query`` in ``mode`` (hybrid, bm25 or dense): its searched text, its
        names' Arabic spellings, its dates (see DateBias: restricts or favours articles by date) and its
        preference (passages of the articles cited in the conversation's last answer come first among them).
        A bare text is read as a Query with only the names step (``prefer`` and ``dates`` then apply).
        ``ranked``, when given, receives the search's own ranking to rank 10 (with the preference applied
        to it), for evaluation: the passages returned are its first ``k`` exactly as without it."""
        if isinstance(query, str):
            from retrieval.understand.understander import plain_query

            query = plain_query(query, self.index.lexicon, prefer=prefer, dates=dates)
        text, dates = query.searched, query.dates
        if mode not in MODES:
            raise UnknownBackend(f"Unknown mode {mode!r}; choose one of: {', '.join(MODES)}.")
        timings = timings if timings is not None else {}
        n = len(self.index)
        if n == 0 or k <= 0:
            return []
        pool = min(n, max(self.candidates, k))

        dates = dates or None
        within = self._in(dates.within) if dates and dates.within else None
        period = self._in(dates.period) if dates and dates.period else None
        if period is not None and within is not None:
            period &= within
        if period is not None and self.period_filter and period.any():
            within, period = period, None
        if within is not None and not within.any():
            return []  # nothing was published in the conversation's period
        # the searches that gather candidates: everywhere (or only ``within``), and in the period
        scopes = [np.flatnonzero(within) if within is not None else None]
        if period is not None and period.any():
            scopes.append(np.flatnonzero(period))

        terms: list[str] | None = None
        candidate_ids: set[int] = set()
        if mode in ("hybrid", "bm25"):
            t0 = time.perf_counter()
            # Latin-script names also search by their Arabic spellings (retrieval/understand/names.py)
            terms = analyze(text) + query.name_terms
            for scope in scopes:
                candidate_ids.update(self._sparse_top(terms, pool, scope).tolist())
            timings["bm25_ms"] = (time.perf_counter() - t0) * 1000

        # a given query vector also scores BM25-only candidates (the composer reads that score)
        qvec: np.ndarray | None = query_vector
        if mode in ("hybrid", "dense"):
            qvec = query_vector
            if qvec is None:
                t0 = time.perf_counter()
                qvec = self.embedder.embed_query(text)
                timings["embed_query_ms"] = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            for scope in scopes:
                candidate_ids.update(self._dense_top(qvec, pool, scope).tolist())
            timings["dense_ms"] = (time.perf_counter() - t0) * 1000

        if not candidate_ids:
            return []
        t0 = time.perf_counter()
        ids = np.fromiter(sorted(candidate_ids), dtype=np.int64)
        cands = signals.Candidates(self.index, ids, terms, qvec, self.chunk_days, period)
        scores = self._relevance(query, cands, mode)
        bm25, dense = scores.pop("bm25"), scores.pop("dense")
        if mode == "hybrid":
            mixed = {"bm25": bm25, "dense": dense, **scores}
            fused = fusion_module.mix({name: values for name, values in mixed.items() if self.weights.get(name)},
                                      self.weights, self.fusion, len(ids))
        else:  # one signal ranks by its raw score
            fused = (bm25 if mode == "bm25" else dense).astype(np.float64)
        if dates:
            fused = fusion_module.lift(fused, self.signals, self.weights, query, cands)
        order = np.argsort(-fused, kind="stable")
        timings["fusion_ms"] = (time.perf_counter() - t0) * 1000
        # the conversation's preference re-orders the passages kept, not the candidates
        passages = [self._passage(int(ids[j]), float(fused[j]), float(bm25[j]), float(dense[j]), rank)
                    for rank, j in enumerate(fusion_module.first(order[:k], self.signals, self.weights, query, cands),
                                             start=1)]
        if ranked is not None:
            top = fusion_module.first(order[:RANKED], self.signals, self.weights, query, cands)
            ranked[:] = [self._passage(int(ids[j]), float(fused[j]), float(bm25[j]), float(dense[j]), rank)
                         for rank, j in enumerate(top, start=1)]
        return passages

    def _relevance(self, query: Query, cands: signals.Candidates, mode: str) -> dict[str, np.ndarray]:
        """The raw scores of the MIX signals the search uses: the reported two always, the others in hybrid
        mode when weighted and when they have something to say."""
        out: dict[str, np.ndarray] = {}
        for name, signal in self.signals.items():
            if signal.kind != signals.MIX or (name not in REPORTED and (mode != "hybrid" or not self.weights.get(name))):
                continue
            values = signal.score(query, cands)
            if values is not None:
                out[name] = values
        return out

    def _sparse_top(self, terms: list[str], k: int, scope: np.ndarray | None) -> np.ndarray:
        """The ``k`` best chunk ids by BM25, among ``scope`` when given (scored exactly)."""
        if scope is None:
            return self.index.backend.sparse_top_k(terms, k).ids
        scores = self.index.backend.sparse_scores(terms, scope) if terms else np.zeros(len(scope))
        top = np.argsort(-scores, kind="stable")[:k]
        return scope[top[scores[top] > 0]]

    def _dense_top(self, qvec: np.ndarray, k: int, scope: np.ndarray | None) -> np.ndarray:
        """The ``k`` best chunk ids by vector similarity, among ``scope`` when given (exact scores)."""
        if scope is None:
            return self.index.backend.dense_top_k(qvec, k).ids
        scores = self.index.backend.vectors(scope) @ qvec
        return scope[np.argsort(-scores, kind="stable")[:k]]

    def _passage(self, chunk_index: int, score: float, bm25: float, dense: float, rank: int) -> Passage:
        doc_index, start, end, text = self.index.chunk(chunk_index)
        doc = self.index.documents[doc_index]
        return Passage(
            chunk_index=chunk_index, doc_id=doc.id, title=doc.title, source=doc.source, url=doc.url, date=doc.date,
            start=start, end=end, text=text, score=score, scores={"bm25": bm25, "dense": dense},
            rank=rank, citation=f"[{rank}]",
        )

