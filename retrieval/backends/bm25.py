"""BM25 backends over analysed terms: bm25s (sparse matrix, memory-mapped) and rank-bm25.

Both return a dense array of scores over all chunks for a query, so fusion can read the
BM25 score of any candidate."""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path

import numpy as np

from retrieval.errors import UnknownBackend

# Lucene's BM25: idf = log(1 + (N - df + 0.5) / (df + 0.5)) is never negative, unlike
# BM25Okapi's, which goes below zero for terms in over half the chunks of a small corpus.
K1 = 1.2
B = 0.75


class BM25Index(ABC):
    """Scores a list of analysed query terms against every chunk."""

    name = ""

    @abstractmethod
    def build(self, corpus_terms: list[list[str]]) -> None: ...

    @abstractmethod
    def scores(self, query_terms: list[str]) -> np.ndarray:
        """float32 array of length ``num_chunks``; all zeros when no term is known."""

    @abstractmethod
    def idf(self, terms: list[str]) -> np.ndarray:
        """Lucene idf of each term (0 for a term not in the index)."""

    @abstractmethod
    def term_frequencies(self) -> dict[str, int]:
        """Every term -> the number of chunks holding it (retrieval/understand/names.py reads the vocabulary)."""

    @abstractmethod
    def save(self, folder: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, folder: Path) -> BM25Index: ...

    @property
    @abstractmethod
    def num_chunks(self) -> int: ...


class Bm25sIndex(BM25Index):
    """bm25s: scores precomputed into a CSC matrix, a query sums a few columns."""

    name = "bm25s"

    def __init__(self) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._model = bm25s.BM25(method="lucene", k1=K1, b=B)
        self._n = 0

    def build(self, corpus_terms: list[list[str]]) -> None:
        self._model.index(corpus_terms, show_progress=False)
        self._n = len(corpus_terms)

    def scores(self, query_terms: list[str]) -> np.ndarray:
        ids = self._model.get_tokens_ids(query_terms)
        if not ids or self._n == 0:
            return np.zeros(self._n, dtype=np.float32)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)

    def idf(self, terms: list[str]) -> np.ndarray:
        vocab, indptr = self._model.vocab_dict, self._model.scores["indptr"]
        out = np.zeros(len(terms), dtype=np.float64)
        for i, term in enumerate(terms):
            column = vocab.get(term)
            if column is not None and column + 1 < len(indptr):
                df = int(indptr[column + 1] - indptr[column])  # chunks holding the term
                out[i] = np.log(1 + (self._n - df + 0.5) / (df + 0.5)) if df else 0.0
        return out

    def term_frequencies(self) -> dict[str, int]:
        indptr = np.asarray(self._model.scores["indptr"])
        df = np.diff(indptr)  # the chunks of a column of the term-by-chunk score matrix
        return {term: int(df[column]) for term, column in self._model.vocab_dict.items() if column < len(df)}

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> Bm25sIndex:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self = cls.__new__(cls)
        self._model = bm25s.BM25.load(str(folder), mmap=True, allow_pickle=False, load_corpus=False)
        self._n = int(self._model.scores["num_docs"])
        return self

    @property
    def num_chunks(self) -> int:
        return self._n


class RankBm25Index(BM25Index):
    """rank-bm25 (the design card's package): pure Python, scores every chunk per query.
    Saved as the term lists (JSON) and rebuilt at load: no pickle."""

    name = "rank-bm25"

    def __init__(self) -> None:
        self._terms: list[list[str]] = []
        self._model = None

    def build(self, corpus_terms: list[list[str]]) -> None:
        from rank_bm25 import BM25Plus

        self._terms = corpus_terms
        # BM25Plus with delta=0 and Lucene idf equals bm25s "lucene"; see _LuceneBM25
        self._model = _lucene_bm25(corpus_terms) if corpus_terms else None
        del BM25Plus

    def scores(self, query_terms: list[str]) -> np.ndarray:
        if self._model is None or not query_terms:
            return np.zeros(len(self._terms), dtype=np.float32)
        return np.asarray(self._model.get_scores(query_terms), dtype=np.float32)

    def idf(self, terms: list[str]) -> np.ndarray:
        table = self._model.idf if self._model is not None else {}
        return np.array([table.get(term, 0.0) for term in terms], dtype=np.float64)

    def term_frequencies(self) -> dict[str, int]:
        return dict(Counter(term for terms in self._terms for term in set(terms)))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "terms.jsonl", "w", encoding="utf-8") as handle:
            for terms in self._terms:
                handle.write(json.dumps(terms, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: Path) -> RankBm25Index:
        self = cls()
        with open(folder / "terms.jsonl", encoding="utf-8") as handle:
            self.build([json.loads(line) for line in handle])
        return self

    @property
    def num_chunks(self) -> int:
        return len(self._terms)


def _lucene_bm25(corpus_terms: list[list[str]]):
    """rank-bm25's BM25Okapi with Lucene's non-negative idf (same formula as bm25s 'lucene')."""
    from rank_bm25 import BM25Okapi

    class LuceneBM25(BM25Okapi):
        def _calc_idf(self, nd: dict[str, int]) -> None:
            self.idf = {term: float(np.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))) for term, freq in nd.items()}

        def get_scores(self, query: list[str]) -> np.ndarray:
            # Lucene (and bm25s) drop Okapi's constant (k1 + 1) factor from the tf part
            return super().get_scores(query) / (K1 + 1)

    return LuceneBM25(corpus_terms, k1=K1, b=B)


_REGISTRY: dict[str, type[BM25Index]] = {"bm25s": Bm25sIndex, "rank-bm25": RankBm25Index}


def backend(name: str) -> type[BM25Index]:
    """The BM25 class registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBackend(f"Unknown BM25 backend {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}.") from None
