"""Hybrid retrieval: BM25 and dense candidates, fused into ranked, cited Passages."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from retrieval.arabic import analyze
from retrieval.embedders import Embedder
from retrieval.errors import UnknownBackend
from retrieval.index import Index
from retrieval.models import Passage

MODES = ("hybrid", "bm25", "dense")
RRF_K = 60


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
                 candidates: int = 50, sentence_weight: float = 0.0) -> None:
        if fusion not in FUSIONS:
            raise UnknownBackend(f"Unknown fusion {fusion!r}; choose one of: {', '.join(FUSIONS)}.")
        self.index = index
        self.embedder = embedder
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.candidates = candidates
        self.sentence_weight = sentence_weight

    def search(self, query: str, k: int = 5, mode: str = "hybrid", query_vector: np.ndarray | None = None,
               timings: dict[str, float] | None = None, prefer: list[str] | None = None) -> list[Passage]:
        """The top ``k`` passages for ``query`` in ``mode`` (hybrid, bm25 or dense). Passages of the
        articles in ``prefer`` (those cited in the conversation's last answer) come first among them."""
        if mode not in MODES:
            raise UnknownBackend(f"Unknown mode {mode!r}; choose one of: {', '.join(MODES)}.")
        timings = timings if timings is not None else {}
        n = len(self.index)
        if n == 0 or k <= 0:
            return []
        pool = min(n, max(self.candidates, k))
        backend = self.index.backend

        terms: list[str] | None = None
        candidate_ids: set[int] = set()
        if mode in ("hybrid", "bm25"):
            t0 = time.perf_counter()
            terms = analyze(query)
            candidate_ids.update(backend.sparse_top_k(terms, pool).ids.tolist())
            timings["bm25_ms"] = (time.perf_counter() - t0) * 1000

        # a given query vector also scores BM25-only candidates (the composer reads that score)
        qvec: np.ndarray | None = query_vector
        if mode in ("hybrid", "dense"):
            qvec = query_vector
            if qvec is None:
                t0 = time.perf_counter()
                qvec = self.embedder.embed_query(query)
                timings["embed_query_ms"] = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            candidate_ids.update(backend.dense_top_k(qvec, pool).ids.tolist())
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
        order = np.argsort(-fused, kind="stable")[:k]
        timings["fusion_ms"] = (time.perf_counter() - t0) * 1000
        passages = [self._passage(int(ids[j]), float(fused[j]), float(bm25[j]), float(dense[j]), rank)
                    for rank, j in enumerate(order, start=1)]
        return prefer_articles(passages, prefer) if prefer else passages

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
