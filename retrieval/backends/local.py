"""The local search backend: FAISS (dense) and a BM25 backend (sparse) as files in the index folder."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from retrieval.backends import faiss_store
from retrieval.backends.base import Hits, SearchBackend
from retrieval.backends.bm25 import BM25Index
from retrieval.backends.bm25 import backend as bm25_backend
from retrieval.index.layout import BM25_DIR, FAISS_INDEX
from retrieval.index.manifest import Params


class LocalBackend(SearchBackend):
    """``faiss.index`` over the chunk vectors, ``bm25/`` over the chunk terms (FAISS_FACTORY,
    BM25_BACKEND). Vectors by id come from the index's memory-mapped chunk vectors."""

    name = "local"

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self._faiss = None
        self.bm25: BM25Index | None = None
        self._vectors = np.zeros((0, 0), np.float32)
        # the retriever asks for the top chunks, then for the scores of its other candidates with
        # the same terms: the full score array is computed once per query and thread
        self._last = threading.local()

    def index_terms(self, corpus_terms: list[list[str]]) -> None:
        self.bm25 = bm25_backend(self.params.bm25_backend)()
        self.bm25.build(corpus_terms)

    def index_vectors(self, vectors: np.ndarray) -> None:
        self._faiss = faiss_store.make_faiss(self.params.faiss_factory, vectors)
        self._vectors = vectors

    def save(self, folder: Path) -> None:
        (folder / BM25_DIR).mkdir()
        self.bm25.save(folder / BM25_DIR)
        faiss_store.write(self._faiss, folder / FAISS_INDEX)

    @classmethod
    def load(cls, folder: Path, params: Params, vectors: np.ndarray) -> LocalBackend:
        self = cls(params)
        self._vectors = vectors
        self._faiss = faiss_store.read(folder / FAISS_INDEX, params.faiss_factory)
        self.bm25 = bm25_backend(params.bm25_backend).load(folder / BM25_DIR)
        faiss_store.serve_one_query_at_a_time()
        return self

    def dense_top_k(self, vector: np.ndarray, k: int) -> Hits:
        if k <= 0 or self._faiss.ntotal == 0:
            return Hits.empty()
        scores, ids = faiss_store.search(self._faiss, vector, k)
        found = ids >= 0
        return _best_first(ids[found].astype(np.int64), scores[found].astype(np.float32))

    def sparse_top_k(self, terms: list[str], k: int) -> Hits:
        scores = self._all_scores(terms)
        n = len(scores)
        if not terms or k <= 0 or not scores.any():
            return Hits.empty()
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[scores[top] > 0]
        return _best_first(top.astype(np.int64), scores[top])

    def sparse_scores(self, terms: list[str], ids: np.ndarray) -> np.ndarray:
        return self._all_scores(terms)[ids]

    def _all_scores(self, terms: list[str]) -> np.ndarray:
        key = tuple(terms)
        if getattr(self._last, "key", None) != key:
            self._last.scores = self.bm25.scores(terms)
            self._last.key = key
        return self._last.scores

    def idf(self, terms: list[str]) -> np.ndarray:
        return self.bm25.idf(terms)

    def term_frequencies(self) -> dict[str, int]:
        return self.bm25.term_frequencies()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._vectors[ids]

    def counts(self) -> dict[str, int]:
        return {"FAISS vectors": int(self._faiss.ntotal), "BM25 rows": self.bm25.num_chunks}

    @property
    def dim(self) -> int:
        return int(self._faiss.d)


def _best_first(ids: np.ndarray, scores: np.ndarray) -> Hits:
    order = np.lexsort((ids, -scores))
    return Hits(ids[order], scores[order])
