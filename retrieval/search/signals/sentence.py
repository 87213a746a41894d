"""Each chunk's sentence closest to the question in meaning; decision 003."""

from __future__ import annotations

import numpy as np

from retrieval.index import Index
from retrieval.search.signals.base import Candidates, Signal
from retrieval.understand.query import Query


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


class Sentence(Signal):
    name = "sentence"

    def score(self, query: Query, candidates: Candidates) -> np.ndarray | None:
        if candidates.query_vector is None or candidates.index.sentence_vectors is None:
            return None
        return max_sentence_similarity(candidates.index, candidates.ids, candidates.query_vector)
