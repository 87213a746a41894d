"""BM25 as sparse vectors from our own analyzer, for engines that search sparse vectors by inner
product (Milvus). Milvus's built-in analyzers have no Arabic stemmer, so the terms stay ours.

A chunk's vector holds, per term, the saturated term frequency ``tf / (tf + k1 (1 - b + b L / avgL))``
with the average length ``avgL`` of the build that created the collection; a query's vector holds
``count * idf`` per known term, the idf coming from the document-frequency table kept with the index.
Their inner product is Lucene's BM25, as bm25s computes it (retrieval/backends/bm25.py). Term ids are stable
32-bit hashes (Milvus's sparse indices are uint32) of the analysed term; a collision is resolved by
rehashing with a counter, and the table remembers the id each term got, so ids never move."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np

from retrieval.backends.bm25 import K1, B

_MAX_ID = 2**32 - 2  # Milvus: "sparse vector index must be positive and less than 2^32-1"


def term_hash(term: str, attempt: int = 0) -> int:
    """A stable id in [1, 2^32 - 2] for ``term`` (another one for each retry after a collision)."""
    data = term.encode("utf-8") if attempt == 0 else f"{attempt}\x00{term}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "little") % _MAX_ID + 1


class TermTable:
    """Term -> (stable id, document frequency), the chunk count and the build's average length."""

    def __init__(self, avg_length: float = 0.0, k1: float = K1, b: float = B) -> None:
        self.ids: dict[str, int] = {}
        self.df: Counter[str] = Counter()
        self.n = 0
        self.avg_length = avg_length
        self.k1, self.b = k1, b
        self._taken: set[int] = set()

    @classmethod
    def from_corpus(cls, corpus_terms: list[list[str]], previous: TermTable | None = None) -> TermTable:
        """The table of these chunks. With ``previous`` (an incremental update of its collection)
        every known term keeps its id and the collection's average length is kept, since the stored
        chunk vectors were saturated with it; the document frequencies are counted anew, so idf is exact."""
        table = cls(avg_length=previous.avg_length if previous else cls.average_length(corpus_terms))
        if previous is not None:
            table.ids = dict(previous.ids)
            table._taken = set(previous._taken)  # noqa: SLF001
        for terms in corpus_terms:
            for term in set(terms):
                table._id(term)
                table.df[term] += 1
        table.n = len(corpus_terms)
        return table

    @staticmethod
    def average_length(corpus_terms: list[list[str]]) -> float:
        lengths = [len(t) for t in corpus_terms]
        return float(np.mean(lengths)) if lengths and sum(lengths) else 1.0

    def _id(self, term: str) -> int:
        known = self.ids.get(term)
        if known is not None:
            return known
        attempt = 0
        while (candidate := term_hash(term, attempt)) in self._taken:
            attempt += 1
        self.ids[term] = candidate
        self._taken.add(candidate)
        return candidate

    def doc_vector(self, terms: list[str]) -> dict[int, float]:
        """The sparse vector of one chunk: saturated tf per term (empty for a chunk without terms)."""
        norm = self.k1 * (1 - self.b + self.b * len(terms) / self.avg_length)
        return {self._id(term): float(np.float32(tf / (tf + norm))) for term, tf in Counter(terms).items()}

    def idf(self, terms: list[str]) -> np.ndarray:
        """Lucene idf of each term over the current chunks (0 for an unknown term)."""
        out = np.zeros(len(terms), np.float64)
        for i, term in enumerate(terms):
            df = self.df.get(term, 0)
            if df:
                out[i] = np.log(1 + (self.n - df + 0.5) / (df + 0.5))
        return out

    def query_vector(self, terms: list[str]) -> dict[int, float]:
        """The sparse vector of a query: idf per known term, times its count (a repeated term counts
        each time, as bm25s does); empty when no term is known."""
        counts = Counter(t for t in terms if self.df.get(t, 0) > 0)
        weights = self.idf(list(counts))
        return {self.ids[t]: float(w * c) for (t, c), w in zip(counts.items(), weights)}

    # --- files (JSON: no pickle) ----------------------------------------------------------------

    def save(self, path: Path) -> None:
        record = {"k1": self.k1, "b": self.b, "avg_length": self.avg_length, "n": self.n,
                  "terms": [[t, self.ids[t], self.df.get(t, 0)] for t in sorted(self.ids)]}
        path.write_text(json.dumps(record, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TermTable:
        record = json.loads(path.read_text(encoding="utf-8"))
        table = cls(avg_length=float(record["avg_length"]), k1=float(record["k1"]), b=float(record["b"]))
        table.n = int(record["n"])
        for term, term_id, df in record["terms"]:
            table.ids[term] = int(term_id)
            if df:
                table.df[term] = int(df)
        table._taken = set(table.ids.values())
        return table


def sparse_dot(query: dict[int, float], doc: dict[int, float]) -> float:
    """Inner product of two sparse vectors (float32 products, as the engine sums them)."""
    return float(sum(np.float32(w) * np.float32(doc[i]) for i, w in query.items() if i in doc))
