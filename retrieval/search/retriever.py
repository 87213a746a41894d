"""Hybrid retrieval: BM25 and dense candidates, fused into ranked, cited Passages."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import date

import numpy as np

from retrieval.embedders import Embedder
from retrieval.errors import UnknownBackend
from retrieval.index import Index
from retrieval.models import Passage
from retrieval.text.arabic import analyze
from retrieval.understand.query import DateBias, Query
from retrieval.understand.timeframe import TimeFrame, day_of

MODES = ("hybrid", "bm25", "dense")
RANKED = 10  # the ranking an answer carries for evaluation (recall@1..10)
RRF_K = 60
# time in questions, chosen with bench/eval_dated.py (166 dated questions over 1,000 ANT articles,
# hybrid; the README has the table). Passages of articles in the question's period gain PERIOD_BOOST
# times the candidates' score range: at 1.0 the period's passages come first and the others follow,
# which beat a filter (month questions 0.926 vs 0.901: a filter empties the answer when the period has
# nothing on the topic, and a date may name an event) and smaller boosts (0.3: 0.864). "Latest" adds
# RECENT_WEIGHT times the article's date (min-max over the candidates within RECENT_WINDOW of the best
# score's range): 0.72 of the latest questions right, 0.48 at 0.3 over every candidate, 0.36 without
PERIOD_BOOST = 1.0
RECENT_WEIGHT = 1.0
RECENT_WINDOW = 0.5
UNKNOWN_DAY = -1


def max_sentence_similarity(index: Index, chunk_ids: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
    """For each chunk, the similarity of its sentence closest to the question (0 without
    sentence vectors). A chunk that holds one sentence answering the question outranks one
    that is only about the topic as a whole."""
    out = np.zeros(len(chunk_ids), np.float64)
    if index.sentence_vectors is None or not len(chunk_ids):
        return out
    ranges = index.chunk_sentences[chunk_ids]
    sizes = ranges[:, 1] - ranges[:, 0]
    if not sizes.any():
        return out
    rows = np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
    sims = np.asarray(index.sentence_vectors[rows] @ query_vector, dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    has = sizes > 0
    out[has] = np.maximum.reduceat(sims, offsets[has])
    return out


def fuse_weighted(bm25: np.ndarray, dense: np.ndarray, dense_weight: float) -> np.ndarray:
    """Min-max normalise each signal over the candidates, then mix them linearly."""
    return dense_weight * _minmax(dense) + (1.0 - dense_weight) * _minmax(bm25)


def fuse_rrf(bm25: np.ndarray, dense: np.ndarray, dense_weight: float) -> np.ndarray:
    """Reciprocal-rank fusion (weighted): sum of w / (60 + rank) over the two rankings."""
    return dense_weight / (RRF_K + _ranks(dense)) + (1.0 - dense_weight) / (RRF_K + _ranks(bm25))


FUSIONS: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {"weighted": fuse_weighted, "rrf": fuse_rrf}


def _minmax(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        return np.zeros_like(values) if hi <= 0 else np.ones_like(values)
    return (values - lo) / (hi - lo)


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return ranks


class Retriever:
    """Finds the chunks that answer a question. Thread-safe (read-only state)."""

    def __init__(self, index: Index, embedder: Embedder, fusion: str = "weighted", dense_weight: float = 0.5,
                 candidates: int = 50, sentence_weight: float = 0.0, period_boost: float = PERIOD_BOOST,
                 recent_weight: float = RECENT_WEIGHT, recent_window: float = RECENT_WINDOW,
                 period_filter: bool = False) -> None:
        if fusion not in FUSIONS:
            raise UnknownBackend(f"Unknown fusion {fusion!r}; choose one of: {', '.join(FUSIONS)}.")
        self.index = index
        self.embedder = embedder
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.candidates = candidates
        self.sentence_weight = sentence_weight
        self.period_boost = period_boost
        self.recent_weight = recent_weight
        self.recent_window = recent_window
        self.period_filter = period_filter  # keep only the question's period (when it has articles) instead of boosting

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
        text, prefer, dates = query.searched, list(query.prefer), query.dates
        if mode not in MODES:
            raise UnknownBackend(f"Unknown mode {mode!r}; choose one of: {', '.join(MODES)}.")
        timings = timings if timings is not None else {}
        n = len(self.index)
        if n == 0 or k <= 0:
            return []
        pool = min(n, max(self.candidates, k))
        backend = self.index.backend

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
        bm25 = backend.sparse_scores(terms, ids) if terms is not None else np.zeros(len(ids), np.float32)
        # exact dense scores for every candidate (the local backend's vectors are memory-mapped)
        dense = backend.vectors(ids) @ qvec if qvec is not None else np.zeros(len(ids), np.float32)
        if mode == "bm25":
            fused = bm25.astype(np.float64)
        elif mode == "dense":
            fused = dense.astype(np.float64)
        else:
            fused = FUSIONS[self.fusion](bm25.astype(np.float64), dense.astype(np.float64), self.dense_weight)
            if self.sentence_weight and qvec is not None and self.index.sentence_vectors is not None:
                sentence = max_sentence_similarity(self.index, ids, qvec)
                signal = _minmax(sentence) if self.fusion == "weighted" else 1.0 / (RRF_K + _ranks(sentence))
                fused = fused + self.sentence_weight * signal
        if dates:
            fused = self._date_bias(fused, ids, period, dates.recent)
        order = np.argsort(-fused, kind="stable")
        timings["fusion_ms"] = (time.perf_counter() - t0) * 1000
        passages = [self._passage(int(ids[j]), float(fused[j]), float(bm25[j]), float(dense[j]), rank)
                    for rank, j in enumerate(order[:k], start=1)]
        if ranked is not None:  # passages of their own: the preference re-numbers ranks in place
            top = [self._passage(int(ids[j]), float(fused[j]), float(bm25[j]), float(dense[j]), rank)
                   for rank, j in enumerate(order[:RANKED], start=1)]
            ranked[:] = prefer_articles(top, prefer) if prefer else top
        return prefer_articles(passages, prefer) if prefer else passages

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

    def _date_bias(self, fused: np.ndarray, ids: np.ndarray, period: np.ndarray | None, recent: bool) -> np.ndarray:
        # in units of the candidates' score range, so a weight means the same in every mode (raw BM25
        # scores in bm25 mode, min-max mixes in hybrid): 1.0 lifts the whole period above the rest
        span = float(fused.max() - fused.min()) if len(fused) else 0.0
        span = span if span > 1e-9 else 1.0
        if period is not None:
            fused = fused + self.period_boost * span * period[ids]
        if recent:
            days = self.chunk_days[ids].astype(np.float64)
            # only the candidates near the best are made newer: an old, on-topic article should not
            # lose to a new one about something else
            known = (days != UNKNOWN_DAY) & (fused >= fused.max() - self.recent_window * span)
            if known.any():
                newness = np.zeros(len(ids))
                newness[known] = _minmax(days[known])
                fused = fused + self.recent_weight * span * newness
        return fused

    def _passage(self, chunk_index: int, score: float, bm25: float, dense: float, rank: int) -> Passage:
        doc_index, start, end, text = self.index.chunk(chunk_index)
        doc = self.index.documents[doc_index]
        return Passage(
            chunk_index=chunk_index, doc_id=doc.id, title=doc.title, source=doc.source, url=doc.url, date=doc.date,
            start=start, end=end, text=text, score=score, scores={"bm25": bm25, "dense": dense},
            rank=rank, citation=f"[{rank}]",
        )


def prefer_articles(passages: list[Passage], doc_ids: list[str]) -> list[Passage]:
    """Stable re-order: passages of the articles cited in the previous answer come first."""
    preferred = set(doc_ids)
    ordered = sorted(passages, key=lambda p: p.doc_id not in preferred)
    for rank, passage in enumerate(ordered, start=1):
        passage.rank = rank
        passage.citation = f"[{rank}]"
    return ordered
